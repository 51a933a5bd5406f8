"""Reads for the portal. Every query here is scoped to one customer or one of their
memberships, which the views take from ``request.user`` only."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from customers.models import Customer
from programs.models import (
    EntryKind,
    LedgerEntry,
    Membership,
    PointLot,
    Redemption,
    Referral,
    Tier,
)
from programs.selectors import (
    CatalogueItem,
    MembershipBalance,
    membership_balance,
    reward_catalogue,
)

EXPIRING_WITHIN_DAYS = 90
# A reward is "within reach" when the points still missing are at most this share of its
# price, or no more than the points already pending.
WITHIN_REACH_SHARE = Decimal("0.25")


def customer_memberships(*, customer: Customer) -> list[Membership]:
    return list(
        Membership.objects.filter(customer=customer)
        .select_related("program", "tier", "qualified_tier")
        .order_by("program__name", "pk")
    )


def membership_pending(*, membership: Membership, limit: int = 5) -> list[dict]:
    """Pending points grouped by the (local) day they become available, soonest first:
    ``available_on`` and ``points``; two purchases of one day make one line.

    Pending (``released_at IS NULL``) is an aggregate's filter, not the query's: with it in
    the WHERE clause, PostgreSQL walks the release job's index of every member's pending
    lots whenever its statistics say none are pending (after a history import or a bulk
    load): 20-70 ms a page at 300,000 pending lots. This reads the membership's own live
    lots through its index instead."""
    return list(
        PointLot.objects.filter(membership=membership, remaining__gt=0)
        .values(available_on=TruncDate("available_at"))
        .annotate(points=Sum("remaining", filter=Q(released_at__isnull=True)))
        .filter(points__gt=0)
        .order_by("available_on")[:limit]
    )


def ledger_history(
    *,
    membership: Membership,
    kinds: list[str] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[LedgerEntry]:
    """A membership's entries, newest first by when they count (``effective_at``: an order
    shows at its purchase date, however late it was reported); the dates filter the same."""
    entries = LedgerEntry.objects.filter(membership=membership)
    if kinds:
        entries = entries.filter(kind__in=kinds)
    tz = timezone.get_current_timezone()
    if date_from:
        entries = entries.filter(effective_at__gte=datetime.combine(date_from, time.min, tz))
    if date_to:
        end = datetime.combine(date_to + timedelta(days=1), time.min, tz)
        entries = entries.filter(effective_at__lt=end)
    return entries.select_related(
        "purchase", "redemption__reward", "action_event__rule", "referral", "hold"
    ).order_by("-effective_at", "-id")


@dataclass(frozen=True)
class Dashboard:
    membership: Membership
    balance: MembershipBalance
    pending: list[dict]
    tier: Tier | None
    recent: list[LedgerEntry]

    @property
    def progress_percent(self) -> int:
        progress = self.balance.progress
        if progress.next_tier is None or progress.next_tier.threshold <= 0:
            return 100
        share = progress.qualifying_value / progress.next_tier.threshold * 100
        return int(max(0, min(100, share)))


def membership_dashboard(*, membership: Membership, recent: int = 5) -> Dashboard:
    balance = membership_balance(membership=membership, expiring_within_days=EXPIRING_WITHIN_DAYS)
    return Dashboard(
        membership=membership,
        balance=balance,
        pending=membership_pending(membership=membership),
        tier=membership.tier,
        recent=list(ledger_history(membership=membership)[:recent]),
    )


@dataclass(frozen=True)
class RewardOption:
    item: CatalogueItem
    missing: int  # points still needed (0 when affordable)

    @property
    def reward(self):
        return self.item.reward


@dataclass(frozen=True)
class RewardShelves:
    now: list[RewardOption]
    within_reach: list[RewardOption]
    later: list[RewardOption]
    locked: list[RewardOption]


def reward_shelves(*, membership: Membership) -> RewardShelves:
    """The catalogue sorted the way a member reads it: affordable now, within reach,
    further away (or unavailable), and locked behind a higher tier."""
    shelves = RewardShelves([], [], [], [])
    for item in reward_catalogue(membership=membership):
        missing = max(0, item.reward.points_cost - membership.balance)
        option = RewardOption(item, missing)
        if item.tier_locked:
            shelves.locked.append(option)
        elif item.redeemable:
            shelves.now.append(option)
        elif item.unavailable_reason == "insufficient_points" and (
            missing <= membership.pending or missing <= item.reward.points_cost * WITHIN_REACH_SHARE
        ):
            shelves.within_reach.append(option)
        else:
            shelves.later.append(option)
    return shelves


def customer_redemptions(*, customer: Customer) -> QuerySet[Redemption]:
    """The customer's redemptions: their own, and those they made from a shared account."""
    return Redemption.objects.filter(
        Q(membership__customer=customer) | Q(placed_by__customer=customer)
    ).select_related("reward", "membership__program")


def _short_name(customer: Customer) -> str:
    """ "Clara N.": how one side of a referral is shown to the other."""
    initial = f" {customer.last_name[:1]}." if customer.last_name else ""
    return f"{customer.first_name}{initial}".strip()


@dataclass(frozen=True)
class ReferralTimeline:
    """One referral as either side follows it: joined through the link, the friend's
    first qualifying purchase, then the reward (paid on a date, expected on a date, waiting
    for a step, in review or refused). ``points`` is what this side gets."""

    referral: Referral
    other_name: str  # the friend (seen by the referrer) or the referrer (seen by the friend)
    joined_at: datetime
    purchased_at: datetime | None
    min_purchase: Decimal
    currency: str
    pending_days: int
    points: int
    rewarded_at: datetime | None  # when this side's points were credited
    expected_at: datetime | None  # when this side's points are due, once known
    points_earned: int = 0

    @property
    def status(self) -> str:
        return self.referral.status


def referral_timelines(*, membership: Membership) -> list[ReferralTimeline]:
    """The friends this member invited, newest first, each with the referrer's reward:
    paid (``rewarded_at``), or expected at the end of the return window after the
    friend's first purchase (``release_at``)."""
    program = membership.program
    return [
        _timeline(
            referral,
            program,
            other=referral.referee.customer,
            points=program.referrer_points,
            rewarded_at=referral.rewarded_at,
            expected_at=referral.release_at if referral.rewarded_at is None else None,
            points_earned=referral.points_earned,
        )
        for referral in referrals_made(membership=membership).select_related("qualifying_purchase")
    ]


def _timeline(referral: Referral, program, *, other, **reward) -> ReferralTimeline:
    """A referral's steps as one side sees them: ``other`` is the friend on the other side,
    ``reward`` this side's points, when they came or are expected, and how many."""
    purchase = referral.qualifying_purchase if referral.qualifying_purchase_id else None
    return ReferralTimeline(
        referral=referral,
        other_name=_short_name(other),
        joined_at=referral.created_at,
        purchased_at=purchase.occurred_at if purchase is not None else None,
        min_purchase=program.referral_min_purchase,
        currency=program.currency,
        pending_days=program.pending_days,
        **reward,
    )


def referral_received(*, membership: Membership) -> ReferralTimeline | None:
    """How this member joined through a friend, if they did: who invited them and when,
    and their welcome bonus (credited with the first qualifying purchase, or after staff
    cleared the referral)."""
    referral = (
        Referral.objects.filter(referee=membership)
        .select_related("referrer__customer", "qualifying_purchase", "program")
        .first()
    )
    if referral is None:
        return None
    program = referral.program
    bonus = (
        LedgerEntry.objects.filter(membership=membership, referral=referral, kind=EntryKind.EARN)
        .order_by("created_at", "id")
        .first()
    )
    return _timeline(
        referral,
        program,
        other=referral.referrer.customer,
        points=program.referee_points,
        rewarded_at=bonus.created_at if bonus is not None else None,
        expected_at=None,
        points_earned=(bonus.points + bonus.pending_points) if bonus is not None else 0,
    )


def referrals_made(*, membership: Membership) -> QuerySet[Referral]:
    """The friends this member invited, with the points the member earned for each."""
    earned = (
        LedgerEntry.objects.filter(
            membership=membership, referral=OuterRef("pk"), kind=EntryKind.EARN
        )
        .values("referral")
        .annotate(total=Sum("points") + Sum("pending_points"))
        .values("total")
    )
    return (
        Referral.objects.filter(referrer=membership)
        .select_related("referee__customer")
        .annotate(points_earned=Coalesce(Subquery(earned, output_field=IntegerField()), 0))
        .order_by("-created_at", "-id")
    )
