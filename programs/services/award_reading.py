"""What an award batch reads before it computes (step 3 of ``awarding``): the active earn
rules and campaigns of its programs, their tiers, the purchases that pay a subscription
fee, and per membership the campaign-cap usage so far and, for those that may still be
upgraded, the qualifying figures. Set-based: a few queries whatever the batch's size."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import Sum

from programs.models import (
    Campaign,
    CampaignAward,
    EarnRule,
    Membership,
    MembershipStatus,
    Tier,
    TierKind,
    TierMetric,
    TierSubscription,
)
from programs.services.tier_figures import ZERO, qualification_window, qualifying_values, tier_rank


@dataclass
class Member:
    """What the batch knows about one locked membership while computing."""

    membership: Membership
    cap_used: dict[int, int] = field(default_factory=dict)
    figures: Decimal | None = None  # qualifying value so far; None: cannot upgrade
    changed: bool = False


@dataclass
class Context:
    now: datetime
    rules: dict[int, list[EarnRule]]
    campaigns: dict[int, list[Campaign]]
    tiers: dict[int, Tier]
    qualified: dict[int, list[Tier]]
    fee_purchases: set[int]
    windows: dict[int, tuple[datetime, datetime]] = field(default_factory=dict)

    def window(self, program) -> tuple[datetime, datetime]:
        """The program's qualification window at ``now``, computed once per batch."""
        if program.pk not in self.windows:
            self.windows[program.pk] = qualification_window(program, self.now)
        return self.windows[program.pk]


def context_load(purchases, memberships, now) -> Context:
    program_ids = {p.program_id for p in purchases}
    rules, campaigns = defaultdict(list), defaultdict(list)
    for rule in EarnRule.objects.filter(program_id__in=program_ids, is_active=True):
        rules[rule.program_id].append(rule)
    for campaign in Campaign.objects.filter(program_id__in=program_ids, is_active=True):
        campaigns[campaign.program_id].append(campaign)
    tier_program_ids = program_ids | {m.program_id for m in memberships.values()}
    tiers = {t.pk: t for t in Tier.objects.filter(program_id__in=tier_program_ids)}
    qualified = defaultdict(list)
    for tier in sorted(tiers.values(), key=lambda t: t.rank):
        if tier.kind == TierKind.QUALIFIED:
            qualified[tier.program_id].append(tier)
    spend_programs = {
        m.program_id
        for m in memberships.values()
        if m.program.tier_metric != TierMetric.POINTS and qualified.get(m.program_id)
    }
    fees = set()
    if spend_programs:
        fees = set(
            TierSubscription.objects.filter(
                purchase_id__any=[p.pk for p in purchases if p.program_id in spend_programs]
            ).values_list("purchase_id", flat=True)
        )
    return Context(now, rules, campaigns, tiers, qualified, fees)


def members_load(purchases, memberships, context: Context) -> dict[int, Member]:
    """Per membership of the batch: tier objects attached (no lazy loads), campaign-cap
    usage so far and, for those that may still be upgraded, the qualifying figures."""
    members = {}
    for purchase in purchases:
        if purchase.membership_id in members:
            continue
        membership = memberships[purchase.membership_id]
        for name in ("tier", "qualified_tier", "override_tier", "subscription_tier"):
            setattr(membership, name, context.tiers.get(getattr(membership, f"{name}_id")))
        members[membership.pk] = Member(membership)
    active = [m for m in members.values() if m.membership.status == MembershipStatus.ACTIVE]
    capped = {
        c.pk
        for m in active
        for c in context.campaigns.get(m.membership.program_id, [])
        if c.cap_per_member is not None
    }
    if capped:
        used = (
            CampaignAward.objects.filter(
                membership_id__any=[m.membership.pk for m in active], campaign__in=capped
            )
            .values("membership", "campaign")
            .annotate(total=Sum("points"))
            .values_list("membership", "campaign", "total")
        )
        for membership_id, campaign_id, total in used:
            members[membership_id].cap_used[campaign_id] = total
    by_program = defaultdict(list)
    for member in active:
        membership = member.membership
        top = context.qualified.get(membership.program_id)
        if top and tier_rank(membership.qualified_tier) < top[-1].rank:
            by_program[membership.program_id].append(member)
    for group in by_program.values():
        program = group[0].membership.program
        start, end = context.window(program)
        figures = qualifying_values(
            program.tier_metric, [m.membership.pk for m in group], start, end
        )
        for member in group:
            member.figures = figures.get(member.membership.pk, ZERO)
    return members
