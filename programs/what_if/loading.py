"""What a replay reads before it starts: the replayed period, the program's rules as they
are now (a side of the replay), and the facts both sides share. A few set-based queries."""

from collections import defaultdict
from datetime import datetime

from dateutil.relativedelta import relativedelta
from django.db.models import Q, Sum
from django.utils import timezone

from programs.campaign_rules import CampaignTerms, terms_of
from programs.models import (
    Campaign,
    CampaignAward,
    CampaignMember,
    EarnRule,
    Membership,
    Program,
    Purchase,
    PurchaseStatus,
    Tier,
)
from programs.what_if.purchases import fee_purchase_ids
from programs.what_if.side import Facts, Rules


def period_of(months: int, now: datetime) -> tuple[datetime, datetime]:
    """The replayed period: the last ``months`` months up to ``now``."""
    return now - relativedelta(months=months), now


def rules_now(
    program: Program, start: datetime, end: datetime, *, leave_out: int | None = None
) -> Rules:
    """The program's rules as the award path reads them now: its tiers, active earn rules
    and the active campaigns that ran in the period (``leave_out``: a campaign the what-if
    replaces by its draft). A budget counts what was left when the period started."""
    campaigns = (
        Campaign.objects.filter(program=program, is_active=True)
        .filter(starts_at__lt=end, ends_at__gt=start)
        .exclude(pk=leave_out)
        .prefetch_related("tiers")
        .order_by("pk")
    )
    terms = [terms_of(c) for c in campaigns]
    budgets = {c.pk: c.budget_points for c in terms if c.budget_points is not None}
    if budgets:
        spent = dict(
            CampaignAward.objects.filter(campaign__in=list(budgets))
            .filter(purchase__occurred_at__lt=start)
            .values("campaign")
            .annotate(total=Sum("points"))
            .values_list("campaign", "total")
        )
        budgets = {pk: max(0, budget - spent.get(pk, 0)) for pk, budget in budgets.items()}
    return Rules(
        program=program,
        tiers={t.pk: t for t in Tier.objects.filter(program=program)},
        rules=list(EarnRule.objects.filter(program=program, is_active=True)),
        campaigns=terms,
        budget_left=budgets,
    )


def facts_load(
    program: Program,
    start: datetime,
    end: datetime,
    campaigns: list[CampaignTerms],
    *,
    reached: dict[int, set[int]] | None = None,
    first_purchase: bool = False,
) -> Facts:
    """The facts both sides share: subscription fees, staff tiers and subscriptions as
    they stand, and for the saved ``campaigns`` their fixed audiences, the bonus members
    got from them before the period (caps) and, if a first-purchase campaign asks (or
    ``first_purchase``: a draft's), who bought before it. ``reached``: a draft's audience,
    by member."""
    facts = Facts(start=start, end=end, fees=fee_purchase_ids(program.pk, start, end))
    rows = Membership.objects.filter(program=program).filter(
        Q(override_tier__isnull=False)
        | Q(subscription_tier__isnull=False)
        | Q(account_tier__isnull=False)
    )
    for pk, *extras in rows.values_list(
        "pk",
        "override_tier_id",
        "override_until",
        "subscription_tier_id",
        "subscription_until",
        "account_tier_id",
    ):
        facts.extras[pk] = tuple(extras)
    facts.reached = defaultdict(set)
    for member_id, ids in (reached or {}).items():
        facts.reached[member_id].update(ids)
    audiences = [c.pk for c in campaigns if c.has_audience]
    if audiences:
        rows = CampaignMember.objects.filter(campaign__in=audiences, in_holdout=False)
        for member_id, campaign_id in rows.values_list("membership_id", "campaign_id"):
            facts.reached[member_id].add(campaign_id)
    _caps_used(facts, campaigns, start)
    if first_purchase or any(c.first_purchase_only for c in campaigns):
        facts.bought_before = set(
            Purchase.objects.filter(
                program=program, status=PurchaseStatus.AWARDED, occurred_at__lt=start
            )
            .values_list("membership_id", flat=True)
            .distinct()
        )
    return facts


def _caps_used(facts: Facts, campaigns: list[CampaignTerms], start: datetime) -> None:
    """Bonus from capped campaigns before the period: in all, and on its first day."""
    capped = [c.pk for c in campaigns if c.cap_per_member is not None]
    before = CampaignAward.objects.filter(purchase__occurred_at__lt=start)
    if capped:
        rows = (
            before.filter(campaign__in=capped)
            .values("membership", "campaign")
            .annotate(total=Sum("points"))
            .values_list("membership", "campaign", "total")
        )
        for member_id, campaign_id, total in rows:
            facts.cap_used.setdefault(member_id, {})[campaign_id] = total
    daily = [c.pk for c in campaigns if c.cap_per_member_day is not None]
    if daily:
        day = timezone.localdate(start)
        rows = (
            before.filter(campaign__in=daily, awarded_on=day)
            .values("membership", "campaign")
            .annotate(total=Sum("points"))
            .values_list("membership", "campaign", "total")
        )
        for member_id, campaign_id, total in rows:
            facts.day_used.setdefault(member_id, {})[(campaign_id, day)] = total
