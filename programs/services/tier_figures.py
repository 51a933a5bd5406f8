"""A membership's tier figures: the qualification window, the qualifying value (spend or
points earned) in it, and which tier a value supports. Read-only; ``tiers`` decides and
records the changes."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from programs.models import (
    AccountMember,
    EntryKind,
    LedgerEntry,
    Membership,
    Program,
    Purchase,
    PurchaseStatus,
    Tier,
    TierKind,
    TierMetric,
    TierWindow,
)

ZERO = Decimal(0)


@dataclass(frozen=True)
class Qualification:
    value: Decimal
    window_start: datetime
    window_end: datetime


def qualification_window(program: Program, now: datetime) -> tuple[datetime, datetime]:
    if program.tier_window == TierWindow.CALENDAR_YEAR:
        local = timezone.localtime(now)
        start = local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        return start, now
    return now - relativedelta(months=12), now


def next_review(program: Program, now: datetime) -> datetime:
    """When a tier reached (or confirmed) at ``now`` is next re-evaluated: twelve months
    later (rolling window) or at the end of the following calendar year."""
    if program.tier_window == TierWindow.CALENDAR_YEAR:
        local = timezone.localtime(now)
        return local.replace(
            year=local.year + 1, month=12, day=31, hour=23, minute=59, second=59, microsecond=0
        )
    return now + relativedelta(months=12)


def points_earned(membership_ids, start: datetime, end: datetime) -> dict[int, int]:
    """Points earned (earn entries, net of their returns) per membership, dated by the
    business time (``effective_at``: the purchase's or action's own date), not by when the
    entry was recorded: backdated history counts in the window it belongs to. A return is
    effective when the points it takes back were earned, so it counts against their
    window. One set-based query."""
    rows = (
        LedgerEntry.objects.filter(
            membership_id__any=membership_ids,
            kind__in=[EntryKind.EARN, EntryKind.REVERSE],
            effective_at__gte=start,
            effective_at__lte=end,
        )
        .values("membership")
        .annotate(total=Coalesce(Sum("points"), 0) + Coalesce(Sum("pending_points"), 0))
        .values_list("membership", "total")
    )
    return dict(rows)


def account_members_counted(membership: Membership) -> list[int]:
    """The memberships whose figures count toward ``membership``'s tier besides its own:
    where a program does not pool (``accounts_pool`` off), a shared account's holder
    counts its current members' combined figures. A pooling account's purchases are its
    own already. No query in a pooling program."""
    if membership.program.accounts_pool:
        return []
    return list(
        AccountMember.objects.filter(account__holder=membership, left_at__isnull=True).values_list(
            "membership_id", flat=True
        )
    )


def qualifying_value(membership: Membership, start: datetime, end: datetime) -> Decimal:
    """Qualifying spend (net of returns, fees excluded) or points earned, in the window;
    both dated by the purchase (or earning), not by when it was recorded. A shared
    account's holder in a program that does not pool adds its members' figures
    (``account_members_counted``)."""
    metric = membership.program.tier_metric
    ids = [membership.pk, *account_members_counted(membership)]
    value = sum(qualifying_values(metric, ids, start, end).values(), ZERO)
    # A return of points earned before a window never counts in it; still, never let the
    # figures drop below zero: that would drop the member below the base tier (to none).
    return max(value, ZERO) if metric == TierMetric.POINTS else value


def qualifying_values(metric: str, membership_ids, start: datetime, end: datetime) -> dict:
    """``qualifying_value`` of many memberships of one program at once, by membership id
    (``Decimal``; points not clamped at zero; memberships with nothing are left out)."""
    if metric == TierMetric.POINTS:
        return {m: Decimal(total) for m, total in points_earned(membership_ids, start, end).items()}
    rows = (
        Purchase.objects.filter(
            membership_id__any=membership_ids,
            status=PurchaseStatus.AWARDED,
            occurred_at__gte=start,
            occurred_at__lte=end,
            subscription__isnull=True,
        )
        .values("membership")
        .annotate(total=Coalesce(Sum("amount"), ZERO) - Coalesce(Sum("refunded_amount"), ZERO))
        .values_list("membership", "total")
    )
    return {membership_id: Decimal(total or 0) for membership_id, total in rows}


def qualification(membership: Membership, now: datetime) -> Qualification:
    start, end = qualification_window(membership.program, now)
    return Qualification(qualifying_value(membership, start, end), start, end)


def qualified_tiers(program: Program) -> list[Tier]:
    return list(program.tiers.filter(kind=TierKind.QUALIFIED).order_by("rank"))


def supported_tier(tiers: list[Tier], value: Decimal) -> Tier | None:
    supported = None
    for tier in tiers:
        if tier.threshold <= value:
            supported = tier
    return supported


def next_tier(tiers: list[Tier], current: Tier | None) -> Tier | None:
    for tier in tiers:
        if current is None or tier.rank > current.rank:
            return tier
    return None


def tier_rank(tier: Tier | None) -> int:
    return -1 if tier is None else tier.rank
