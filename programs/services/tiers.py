"""Tier qualification, upgrades, period-end downgrades, staff overrides and subscriptions.

The effective tier of a membership is derived from three parts, each with its own rules:

* the **qualified** tier, earned by spend or points in the qualification window: raised as
  soon as a threshold is crossed, lowered only when the period closes (after the grace
  period, one step or straight to the supported tier) or when a return takes away the
  figures that earned an upgrade within the current window;
* a **staff override** with an optional end date: while active it wins outright;
* a **subscription** (VIP) tier, paid for a period: it counts while paid.

Without an override the higher of the qualified and subscribed tiers applies. Every
change of the effective tier writes a ``TierChange`` with the reason and the figures.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from programs.errors import InvalidTierChange
from programs.models import (
    DowngradeMode,
    EntryKind,
    LedgerEntry,
    Membership,
    PointLot,
    Program,
    Purchase,
    PurchaseStatus,
    Tier,
    TierChange,
    TierChangeReason,
    TierKind,
    TierMetric,
    TierSubscription,
    TierWindow,
)
from programs.services import events
from programs.services.events import event_record
from programs.services.locking import lock_membership

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
    """Points earned (earn entries, net of their returns) per membership, dated by when they
    were earned (the lot's ``earned_at``: the purchase's or action's own date), not by when
    the entry was written: backdated history counts in the window it belongs to. A return
    counts against the window of the points it takes back. Two set-based queries."""
    earned = (
        PointLot.objects.filter(
            membership_id__any=membership_ids,
            earn_entry__kind=EntryKind.EARN,
            earned_at__gte=start,
            earned_at__lte=end,
        )
        .values("membership")
        .annotate(total=Sum("points"))
        .values_list("membership", "total")
    )
    source_lot = PointLot.objects.filter(
        Q(earn_entry__purchase=OuterRef("purchase")) | Q(earn_entry__referral=OuterRef("referral")),
        membership=OuterRef("membership"),
        earn_entry__kind=EntryKind.EARN,
    ).values("earned_at")[:1]
    returned = (
        LedgerEntry.objects.filter(membership_id__any=membership_ids, kind=EntryKind.REVERSE)
        .annotate(earned_at=Subquery(source_lot))
        .filter(earned_at__gte=start, earned_at__lte=end)
        .values("membership")
        .annotate(total=Coalesce(Sum("points"), 0) + Coalesce(Sum("pending_points"), 0))
        .values_list("membership", "total")
    )
    totals: dict[int, int] = dict(earned)
    for membership_id, total in returned:
        totals[membership_id] = totals.get(membership_id, 0) + total
    return totals


def qualifying_value(membership: Membership, start: datetime, end: datetime) -> Decimal:
    """Qualifying spend (net of returns, fees excluded) or points earned, in the window;
    both dated by the purchase (or earning), not by when it was recorded."""
    metric = membership.program.tier_metric
    value = qualifying_values(metric, [membership.pk], start, end).get(membership.pk, ZERO)
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


def _rank(tier: Tier | None) -> int:
    return -1 if tier is None else tier.rank


def effective_tier(membership: Membership, now: datetime) -> Tier | None:
    if membership.override_tier_id and (
        membership.override_until is None or membership.override_until > now
    ):
        return membership.override_tier
    subscribed = (
        membership.subscription_tier
        if membership.subscription_until and membership.subscription_until > now
        else None
    )
    return max([membership.qualified_tier, subscribed], key=_rank)


def tier_refresh(
    membership: Membership,
    *,
    reason: str,
    now: datetime,
    figures: Qualification | None = None,
    user=None,
    note: str = "",
) -> TierChange | None:
    """Recompute the effective tier; save; record a change if there was one."""
    new = effective_tier(membership, now)
    old_id = membership.tier_id
    membership.tier = new
    membership.save(
        update_fields=[
            "tier",
            "qualified_tier",
            "qualified_tier_since",
            "tier_review_at",
            "override_tier",
            "override_until",
            "subscription_tier",
            "subscription_until",
            "updated_at",
        ]
    )
    if (new.pk if new else None) == old_id:
        return None
    change = TierChange.objects.create(
        membership=membership,
        from_tier_id=old_id,
        to_tier=new,
        reason=reason,
        qualifying_value=figures.value if figures else None,
        window_start=figures.window_start if figures else None,
        window_end=figures.window_end if figures else None,
        changed_by=user,
        note=note,
    )
    event_record(
        type=events.TIER_CHANGED, membership=membership, data=tier_change_data(change), at=now
    )
    return change


def tier_change_data(change: TierChange) -> dict:
    """The public data of a ``tier.changed`` event (webhooks, notifications)."""
    return {
        "change_id": change.pk,
        "from_tier": change.from_tier.name if change.from_tier else None,
        "to_tier": change.to_tier.name if change.to_tier else None,
        "direction": "up" if _rank(change.to_tier) > _rank(change.from_tier) else "down",
        "reason": change.reason,
    }


def membership_tier_start(membership: Membership, now: datetime) -> TierChange | None:
    """On enrollment: the tier the (usually empty) figures support, often the base tier."""
    figures = qualification(membership, now)
    membership.qualified_tier = supported_tier(qualified_tiers(membership.program), figures.value)
    membership.qualified_tier_since = now
    membership.tier_review_at = next_review(membership.program, now)
    return tier_refresh(membership, reason=TierChangeReason.ENROLLED, now=now, figures=figures)


def membership_tier_upgrade(membership: Membership, now: datetime) -> TierChange | None:
    """After points or spend were added: upgrade at once if a higher threshold is crossed."""
    figures = qualification(membership, now)
    target = supported_tier(qualified_tiers(membership.program), figures.value)
    if _rank(target) <= _rank(membership.qualified_tier):
        return None
    membership.qualified_tier = target
    membership.qualified_tier_since = now
    membership.tier_review_at = next_review(membership.program, now)
    return tier_refresh(membership, reason=TierChangeReason.UPGRADE, now=now, figures=figures)


def membership_tier_after_return(membership: Membership, now: datetime) -> TierChange | None:
    """After a return: an upgrade reached within the current window is taken back if the
    figures no longer support it. A tier confirmed in an earlier period stays until review."""
    if membership.qualified_tier is None or membership.qualified_tier_since is None:
        return None
    figures = qualification(membership, now)
    if membership.qualified_tier_since < figures.window_start:
        return None
    target = supported_tier(qualified_tiers(membership.program), figures.value)
    if _rank(target) >= _rank(membership.qualified_tier):
        return None
    membership.qualified_tier = target
    return tier_refresh(membership, reason=TierChangeReason.RETURN, now=now, figures=figures)


def membership_tier_review(membership: Membership, now: datetime) -> TierChange | None:
    """Close the qualification period (due at ``tier_review_at`` + grace): keep, raise or
    lower the qualified tier; lowering goes one step or to the supported tier."""
    program = membership.program
    # Judge the period that closed at ``tier_review_at``, not the window ending when the job
    # runs (after the grace days, or in the first hours of a new calendar year, that window
    # holds almost nothing); the next period runs on from its end, so reviews do not drift.
    period_end = min(membership.tier_review_at or now, now)
    figures = qualification(membership, period_end)
    tiers = qualified_tiers(program)
    target = supported_tier(tiers, figures.value)
    current = membership.qualified_tier
    membership.tier_review_at = next_review(program, period_end)
    if _rank(target) >= _rank(current):
        reason = TierChangeReason.UPGRADE
        membership.qualified_tier = target
    else:
        reason = TierChangeReason.DOWNGRADE
        if program.downgrade_mode == DowngradeMode.ONE_STEP:
            one_down = max((t for t in tiers if t.rank < current.rank), key=_rank, default=None)
            membership.qualified_tier = max([one_down, target], key=_rank)
        else:
            membership.qualified_tier = target
        membership.qualified_tier_since = now
    return tier_refresh(membership, reason=reason, now=now, figures=figures)


@transaction.atomic
def membership_tier_override(
    membership: Membership, *, tier: Tier | None, until: datetime | None, reason: str, user
) -> TierChange | None:
    """Staff set a tier by hand, with a reason, optionally until a date (None: clear).

    Works on a freshly locked copy, so a stale instance from a form cannot overwrite an
    upgrade or subscription committed meanwhile; the caller's instance is refreshed."""
    caller_copy = membership
    membership = lock_membership(membership.pk)
    now = timezone.now()
    if not reason.strip():
        raise InvalidTierChange("Give a reason for the tier change; it is kept in the audit log.")
    if tier is not None and tier.program_id != membership.program_id:
        raise InvalidTierChange("This tier belongs to another program.")
    if until is not None and until <= now:
        raise InvalidTierChange("The end date of a staff tier must lie in the future.")
    membership.override_tier = tier
    membership.override_until = until if tier is not None else None
    change = tier_refresh(
        membership, reason=TierChangeReason.OVERRIDE, now=now, user=user, note=reason
    )
    if change is None:  # same effective tier, still audit who set what
        change = TierChange.objects.create(
            membership=membership,
            from_tier=membership.tier,
            to_tier=membership.tier,
            reason=TierChangeReason.OVERRIDE,
            changed_by=user,
            note=reason,
        )
    caller_copy.refresh_from_db()
    return change


def membership_tier_expire_parts(membership: Membership, now: datetime) -> TierChange | None:
    """End a staff tier or a subscription whose time is up."""
    reason = None
    if (
        membership.override_tier_id
        and membership.override_until
        and membership.override_until <= now
    ):
        membership.override_tier = None
        membership.override_until = None
        reason = TierChangeReason.OVERRIDE_ENDED
    if (
        membership.subscription_tier_id
        and membership.subscription_until
        and membership.subscription_until <= now
    ):
        membership.subscription_tier = None
        membership.subscription_until = None
        reason = reason or TierChangeReason.SUBSCRIPTION_LAPSED
    if reason is None:
        return None
    return tier_refresh(membership, reason=reason, now=now)


def membership_subscription_after_refund(
    membership: Membership, purchase: Purchase, now: datetime
) -> TierChange | None:
    """A subscription fee refunded in full takes back the period it paid for: the paid-up
    date moves back by that period, and the subscribed tier lapses if nothing paid is left.
    (A partial refund of a fee is a goodwill gesture: the period stays.)"""
    subscription = TierSubscription.objects.filter(purchase=purchase).first()
    if (
        subscription is None
        or purchase.refunded_amount < purchase.amount
        or membership.subscription_tier_id != subscription.tier_id
        or membership.subscription_until is None
    ):
        return None
    membership.subscription_until -= subscription.ends_at - subscription.starts_at
    if membership.subscription_until > now:
        membership.save(update_fields=["subscription_until", "updated_at"])
        return None
    membership.subscription_tier = None
    membership.subscription_until = None
    return tier_refresh(membership, reason=TierChangeReason.SUBSCRIPTION_LAPSED, now=now)
