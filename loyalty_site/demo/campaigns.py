"""The demo's targeting story: a segment staff watch, and a finished comeback campaign
with a holdout whose result page shows what it changed.

The campaign ran for four weeks ending about two months ago: 150 bonus points on a
purchase of 25 EUR or more, for every member who had joined by its start, a fifth of them
held out. Its audience is fixed as of its start; the history adds each shopper to it as
it creates them (``audience_join``), drawn as the freeze would have drawn them. Some of
the reached members came back for it (``extra_visit``): the holdout did not."""

from datetime import datetime, timedelta
from decimal import Decimal

from programs.models import Campaign, CampaignEffect, Membership, Program, Segment
from programs.models import SegmentCondition as Condition
from programs.services.campaigns import campaign_audience_add, holdout_assign

COMEBACK_NAME = "Comeback-Wochen: 150 Extrapunkte ab 25 €"
SEGMENT_NAME = "Stammkunden mit Abwanderungsrisiko"


def demo_segment_create(program: Program) -> Segment:
    """Regulars who may be leaving: at risk of churning with 3+ purchases in the last year,
    or 100 EUR+ spent in the last year but nothing for 60 days."""
    segment = Segment.objects.create(
        program=program,
        name=SEGMENT_NAME,
        description="Für Rückgewinnungsaktionen: treue Kunden, die gerade nachlassen.",
    )
    for group, field, operator, value in [
        (1, "churn_risk", "is", "ja"),
        (1, "purchases_12m", "at_least", "3"),
        (2, "spend_12m", "at_least", "100"),
        (2, "days_since_purchase", "at_least", "60"),
    ]:
        Condition.objects.create(
            segment=segment, group=group, field=field, operator=operator, value=value
        )
    return segment


def comeback_campaign_create(program: Program, now: datetime) -> Campaign:
    start = (now - timedelta(days=88)).replace(hour=0, minute=0, second=0, microsecond=0)
    return Campaign.objects.create(
        program=program,
        name=COMEBACK_NAME,
        description="Vier Wochen Extrapunkte; ein Fünftel der Mitglieder als Kontrollgruppe.",
        starts_at=start,
        ends_at=start + timedelta(days=28),
        effect=CampaignEffect.FIXED,
        bonus_points=150,
        min_spend=Decimal("25.00"),
        holdout_percent=20,
        budget_points=120_000,
        audience_frozen_at=start,
    )


def audience_join(campaign: Campaign | None, membership: Membership) -> bool:
    """Add a shopper who had joined by the campaign's start; True if reached (not held
    out)."""
    if campaign is None or membership.joined_at >= campaign.starts_at:
        return False
    campaign_audience_add(campaign, [membership.pk])
    return not holdout_assign(campaign.pk, membership.pk, campaign.holdout_percent)


def extra_visit(campaign: Campaign, rng) -> datetime:
    """When a reached member came back for the bonus: a day in the campaign's window."""
    span = (campaign.ends_at - campaign.starts_at).total_seconds()
    return campaign.starts_at + timedelta(seconds=rng.uniform(0.05, 0.95) * span)
