"""A dry run of one purchase for a partner: the points it would earn now, with each earn
rule and campaign that applies. Reads what the award would read (rules, campaigns, the
member's caps, audiences and first purchase) without locking or writing anything; the
worker's award, later, may differ if a cap or a budget is spent meanwhile."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace

from django.utils import timezone

from programs.campaign_rules import reaches
from programs.earning import LineInput, purchase_points, rule_for
from programs.models import EarnRule, Membership, MembershipStatus, Partner
from programs.services.award_reading import Context, Member, campaign_facts_load, campaigns_load
from programs.services.purchases import LineData, purchase_check


@dataclass
class QuotedLine:
    amount: Decimal
    category: str
    sku: str
    rule: str  # the earn rule that applies ("" for none)
    excluded: bool
    points: Decimal


@dataclass
class PurchaseQuote:
    membership: Membership
    points: int
    base_points: int
    below_minimum: bool
    tier_multiplier: Decimal
    campaigns: list[dict] = field(default_factory=list)  # id, name, points, limited
    lines: list[QuotedLine] = field(default_factory=list)


def purchase_quote(
    *,
    partner: Partner,
    membership: Membership,
    amount: Decimal,
    currency: str,
    occurred_at: datetime | None,
    lines: Sequence[LineData],
    known_program_ids: set[int],
) -> PurchaseQuote:
    """What ``purchase_record`` then the award would give this purchase, without either.
    Raises the same errors ``purchase_record`` would for the same input."""
    now = timezone.now()
    occurred_at = occurred_at or now
    purchase_check(
        membership=membership,
        program_ids=known_program_ids,
        amount=amount,
        currency=currency,
        occurred_at=occurred_at,
        lines=lines,
        now=now,
    )
    program = membership.program
    rules = list(EarnRule.objects.filter(program=program, is_active=True))
    campaigns, budget_left = campaigns_load([program.pk], [occurred_at], lock=False)
    context = Context(now, {}, campaigns, {}, {}, set(), budget_left)
    member = Member(membership)
    purchase = SimpleNamespace(occurred_at=occurred_at)
    if membership.status == MembershipStatus.ACTIVE:
        campaign_facts_load([purchase], [member], context)
    day = timezone.localdate(occurred_at)
    applying = [
        c
        for c in campaigns.get(program.pk, [])
        if reaches(
            c,
            tier_id=membership.tier_id,
            partner_id=partner.pk,
            first_purchase=not member.has_purchased,
            reached=c.pk in member.reached,
        )
    ]
    cap_left = {c.pk: member.cap_left(c, day, budget_left) for c in applying}
    inputs = [LineInput(amount=li.amount, category=li.category, sku=li.sku) for li in lines]
    multiplier = membership.tier.earn_multiplier if membership.tier else Decimal(1)
    breakdown = purchase_points(
        program=program,
        amount=amount,
        lines=inputs,
        occurred_at=occurred_at,
        tier_multiplier=multiplier,
        rules=rules,
        campaigns=applying,
        cap_left=cap_left,
    )
    quote = PurchaseQuote(
        membership=membership,
        points=breakdown.total,
        base_points=breakdown.base_points,
        below_minimum=breakdown.below_minimum,
        tier_multiplier=multiplier,
    )
    for terms in applying:
        points = breakdown.campaign_points.get(terms.pk, 0)
        if points or cap_left.get(terms.pk) == 0:
            quote.campaigns.append(
                {
                    "id": terms.pk,
                    "name": terms.name,
                    "points": points,
                    "limited": cap_left.get(terms.pk) is not None,
                }
            )
    for line, points in zip(inputs, breakdown.line_points, strict=False):
        rule = rule_for(line, rules) if lines else None
        quote.lines.append(
            QuotedLine(
                amount=line.amount,
                category=line.category,
                sku=line.sku,
                rule=rule.name if rule else "",
                excluded=bool(rule and rule.excluded),
                points=points,
            )
        )
    return quote
