"""What an award batch reads before it computes (step 3 of ``awarding``): the active earn
rules and campaigns of its programs, their tiers, the purchases that pay a subscription
fee, and per membership the campaign facts (cap usage so far, per day too, the fixed
audiences it is reached by, whether it bought before) and, for those that may still be
upgraded, the qualifying figures. Set-based: a few queries whatever the batch's size.

A campaign with a points budget is locked (``FOR UPDATE``, after the memberships, in id
order) when the batch may spend from it, and its budget read under the lock: concurrent
batches take turns, so the budget is never exceeded and the last award gets what is
left (the database's check constraint stands behind it)."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db.models import F, Q, Sum
from django.utils import timezone

from programs.campaign_rules import CampaignTerms, terms_of
from programs.models import (
    Campaign,
    CampaignAward,
    CampaignMember,
    EarnRule,
    Membership,
    MembershipStatus,
    Purchase,
    PurchaseStatus,
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
    day_used: dict[tuple[int, date], int] = field(default_factory=dict)
    reached: set[int] = field(default_factory=set)  # fixed audiences it is reached by
    has_purchased: bool = True  # False only when a first-purchase campaign asked
    figures: Decimal | None = None  # qualifying value so far; None: cannot upgrade
    changed: bool = False

    def cap_left(self, terms: CampaignTerms, day: date, budget_left: dict[int, int]):
        """The most bonus this member may still get from the campaign on ``day``: the
        least of its per-member cap, its per-day cap and its budget (None: no limit)."""
        limits = [budget_left[terms.pk]] if terms.pk in budget_left else []
        if terms.cap_per_member is not None:
            limits.append(terms.cap_per_member - self.cap_used.get(terms.pk, 0))
        if terms.cap_per_member_day is not None:
            limits.append(terms.cap_per_member_day - self.day_used.get((terms.pk, day), 0))
        return max(0, min(limits)) if limits else None

    def bonus_given(self, campaign_id: int, day: date, points: int) -> None:
        self.cap_used[campaign_id] = self.cap_used.get(campaign_id, 0) + points
        key = (campaign_id, day)
        self.day_used[key] = self.day_used.get(key, 0) + points


@dataclass
class Context:
    now: datetime
    rules: dict[int, list[EarnRule]]
    campaigns: dict[int, list[CampaignTerms]]
    tiers: dict[int, Tier]
    qualified: dict[int, list[Tier]]
    fee_purchases: set[int]
    budget_left: dict[int, int] = field(default_factory=dict)  # locked budgets
    windows: dict[int, tuple[datetime, datetime]] = field(default_factory=dict)

    def window(self, program) -> tuple[datetime, datetime]:
        """The program's qualification window at ``now``, computed once per batch."""
        if program.pk not in self.windows:
            self.windows[program.pk] = qualification_window(program, self.now)
        return self.windows[program.pk]


def context_load(purchases, memberships, now) -> Context:
    program_ids = {p.program_id for p in purchases}
    rules = defaultdict(list)
    for rule in EarnRule.objects.filter(program_id__in=program_ids, is_active=True):
        rules[rule.program_id].append(rule)
    campaigns, budget_left = campaigns_load(program_ids, [p.occurred_at for p in purchases])
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
    return Context(now, rules, campaigns, tiers, qualified, fees, budget_left)


def campaigns_load(
    program_ids, moments: list[datetime], *, lock: bool = True
) -> tuple[dict[int, list[CampaignTerms]], dict[int, int]]:
    """The programs' active campaigns with budget left, as terms, and the budget left of
    those that may pay for one of ``moments``, locked (``lock``) in id order."""
    rows = (
        Campaign.objects.filter(program_id__in=program_ids, is_active=True)
        .filter(Q(budget_points__isnull=True) | Q(points_awarded__lt=F("budget_points")))
        .prefetch_related("tiers")
        .order_by("pk")
    )
    campaigns, budgeted = defaultdict(list), []
    first, last = min(moments), max(moments)
    for campaign in rows:
        campaigns[campaign.program_id].append(terms_of(campaign))
        in_window = campaign.starts_at <= last and first < campaign.ends_at
        if campaign.budget_points is not None and in_window:
            budgeted.append(campaign.pk)
    budget_left = {}
    if budgeted:
        read = Campaign.objects.filter(pk__in=budgeted).order_by("pk")
        if lock:
            read = read.select_for_update(no_key=True)
        for pk, budget, spent in read.values_list("pk", "budget_points", "points_awarded"):
            budget_left[pk] = max(0, budget - spent)
    return campaigns, budget_left


def members_load(purchases, memberships, context: Context) -> dict[int, Member]:
    """Per membership of the batch: tier objects attached (no lazy loads), campaign-cap
    usage so far and, for those that may still be upgraded, the qualifying figures."""
    members = {}
    for purchase in purchases:
        if purchase.membership_id in members:
            continue
        membership = memberships[purchase.membership_id]
        for name in (
            "tier",
            "qualified_tier",
            "override_tier",
            "subscription_tier",
            "account_tier",
        ):
            setattr(membership, name, context.tiers.get(getattr(membership, f"{name}_id")))
        members[membership.pk] = Member(membership)
    active = [m for m in members.values() if m.membership.status == MembershipStatus.ACTIVE]
    campaign_facts_load(purchases, active, context)
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


def campaign_facts_load(purchases, active: list[Member], context: Context) -> None:
    """Per member: bonus used so far from capped campaigns (in total and on the batch's
    days), the fixed audiences it is reached by, and whether it bought before (only when
    a first-purchase campaign asks)."""
    if not active:
        return
    by_id = {m.membership.pk: m for m in active}
    terms = [c for m in active for c in context.campaigns.get(m.membership.program_id, [])]
    ids = list(by_id)
    capped = {c.pk for c in terms if c.cap_per_member is not None}
    if capped:
        used = (
            CampaignAward.objects.filter(membership_id__any=ids, campaign__in=capped)
            .values("membership", "campaign")
            .annotate(total=Sum("points"))
            .values_list("membership", "campaign", "total")
        )
        for membership_id, campaign_id, total in used:
            by_id[membership_id].cap_used[campaign_id] = total
    daily = {c.pk for c in terms if c.cap_per_member_day is not None}
    if daily:
        days = {timezone.localdate(p.occurred_at) for p in purchases}
        used = (
            CampaignAward.objects.filter(
                membership_id__any=ids, campaign__in=daily, awarded_on__in=days
            )
            .values("membership", "campaign", "awarded_on")
            .annotate(total=Sum("points"))
            .values_list("membership", "campaign", "awarded_on", "total")
        )
        for membership_id, campaign_id, day, total in used:
            by_id[membership_id].day_used[(campaign_id, day)] = total
    audiences = {c.pk for c in terms if c.has_audience}
    if audiences:
        reached = CampaignMember.objects.filter(
            campaign__in=audiences, membership_id__any=ids, in_holdout=False
        ).values_list("membership", "campaign")
        for membership_id, campaign_id in reached:
            by_id[membership_id].reached.add(campaign_id)
    if any(c.first_purchase_only for c in terms):
        bought = set(
            Purchase.objects.filter(membership_id__any=ids, status=PurchaseStatus.AWARDED)
            .values_list("membership_id", flat=True)
            .distinct()
        )
        for membership_id, member in by_id.items():
            member.has_purchased = membership_id in bought
