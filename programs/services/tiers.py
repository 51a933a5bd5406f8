"""Tier qualification, upgrades, period-end downgrades, staff overrides and subscriptions.

The effective tier of a membership is derived from three parts, each with its own rules:

* the **qualified** tier, earned by spend or points in the qualification window: raised as
  soon as a threshold is crossed, lowered only when the period closes (after the grace
  period, one step or straight to the supported tier) or when a return takes away the
  figures that earned an upgrade within the current window;
* a **staff override** with an optional end date: while active it wins outright;
* a **subscription** (VIP) tier, paid for a period: it counts while paid;
* the **shared account's** tier, while the member belongs to one
  (``programs.services.account_tiers``).

Without an override the highest of the qualified, subscribed and account tiers applies. Every
change of the effective tier writes a ``TierChange`` with the reason and the figures.
"""

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from loyalty_site.core.audit import AuditAction, audit_record
from programs.errors import InvalidTierChange
from programs.models import (
    DowngradeMode,
    Membership,
    Purchase,
    Tier,
    TierChange,
    TierChangeReason,
    TierSubscription,
)
from programs.services import events
from programs.services.events import event_record
from programs.services.locking import lock_membership
from programs.services.tier_figures import (
    Qualification,
    next_review,
    qualification,
    qualified_tiers,
    supported_tier,
    tier_rank,
)


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
    return max([membership.qualified_tier, subscribed, membership.account_tier], key=tier_rank)


def tier_change_new(
    membership: Membership,
    *,
    old_id: int | None,
    new: Tier | None,
    reason: str,
    figures: Qualification | None = None,
    user=None,
    note: str = "",
) -> TierChange:
    """The change row of every path (saved by ``tier_refresh``, or with an award batch)."""
    return TierChange(
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
            "account_tier",
            "updated_at",
        ]
    )
    if (new.pk if new else None) == old_id:
        return None
    change = tier_change_new(
        membership, old_id=old_id, new=new, reason=reason, figures=figures, user=user, note=note
    )
    change.save()
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
        "direction": "up" if tier_rank(change.to_tier) > tier_rank(change.from_tier) else "down",
        "reason": change.reason,
    }


def membership_tier_start(membership: Membership, now: datetime) -> TierChange | None:
    """On enrollment: the tier the (usually empty) figures support, often the base tier."""
    figures = qualification(membership, now)
    membership.qualified_tier = supported_tier(qualified_tiers(membership.program), figures.value)
    membership.qualified_tier_since = now
    membership.tier_review_at = next_review(membership.program, now)
    return tier_refresh(membership, reason=TierChangeReason.ENROLLED, now=now, figures=figures)


def qualified_tier_raise(
    membership: Membership, tiers: list[Tier], value: Decimal, now: datetime
) -> bool:
    """The upgrade rule of every path (an award batch, a single action): raise the
    qualified tier to the highest of ``tiers`` that ``value`` supports, never lower it,
    and start its period. True if it was raised."""
    target = supported_tier(tiers, value)
    if tier_rank(target) <= tier_rank(membership.qualified_tier):
        return False
    membership.qualified_tier = target
    membership.qualified_tier_since = now
    membership.tier_review_at = next_review(membership.program, now)
    return True


def membership_tier_upgrade(membership: Membership, now: datetime) -> TierChange | None:
    """After points or spend were added: upgrade at once if a higher threshold is crossed."""
    figures = qualification(membership, now)
    if not qualified_tier_raise(
        membership, qualified_tiers(membership.program), figures.value, now
    ):
        return None
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
    if tier_rank(target) >= tier_rank(membership.qualified_tier):
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
    if tier_rank(target) >= tier_rank(current):
        reason = TierChangeReason.UPGRADE
        membership.qualified_tier = target
    else:
        reason = TierChangeReason.DOWNGRADE
        if program.downgrade_mode == DowngradeMode.ONE_STEP:
            one_down = max((t for t in tiers if t.rank < current.rank), key=tier_rank, default=None)
            membership.qualified_tier = max([one_down, target], key=tier_rank)
        else:
            membership.qualified_tier = target
        membership.qualified_tier_since = now
    return tier_refresh(membership, reason=reason, now=now, figures=figures)


@transaction.atomic
def membership_tier_override(
    membership: Membership, *, tier: Tier | None, until: datetime | None, reason: str, user
) -> TierChange | None:
    """Staff set a tier by hand, with a reason, optionally until a date (None: clear).
    Recorded as a tier change and in the staff audit log (the tier parts before and after).

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
    before = _tier_parts(membership)
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
    after = _tier_parts(membership)
    audit_record(
        user=user,
        action=AuditAction.SET_TIER,
        obj=membership,
        changes={
            name: [before[name], after[name]] for name in before if before[name] != after[name]
        },
        note=reason,
        customer_id=membership.customer_id,
    )
    caller_copy.refresh_from_db()
    return change


def _tier_parts(membership: Membership) -> dict:
    return {
        "tier_id": membership.tier_id,
        "override_tier_id": membership.override_tier_id,
        "override_until": membership.override_until,
    }


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
