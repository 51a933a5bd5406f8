"""Points for non-purchase actions, and staff adjustments."""

from datetime import datetime

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty_site.core.audit import AuditAction, audit_record
from programs.errors import (
    ActionLimitReached,
    AdjustmentAboveLimit,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidAmount,
    MembershipInactive,
    UnknownAction,
)
from programs.models import (
    ActionEvent,
    ActionRule,
    EntryKind,
    EntrySource,
    LedgerEntry,
    LimitPeriod,
    Membership,
    MembershipStatus,
)
from programs.services.ledger import (
    Actor,
    entry_by_key,
    membership_expire_overdue,
    points_earn,
    points_spend,
)
from programs.services.locking import lock_membership
from programs.services.tiers import membership_tier_upgrade

# Staff with this permission (role "Administration") may adjust by more than
# settings.STAFF_ADJUSTMENT_LIMIT points at once. Created by loyalty_site's roles migration.
ADJUST_UNLIMITED = "programs.adjust_points_unlimited"


def limit_period_start(period: str, at: datetime) -> datetime | None:
    local = timezone.localtime(at)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == LimitPeriod.DAY:
        return midnight
    if period == LimitPeriod.WEEK:
        return midnight - relativedelta(days=midnight.weekday())
    if period == LimitPeriod.MONTH:
        return midnight.replace(day=1)
    if period == LimitPeriod.YEAR:
        return midnight.replace(month=1, day=1)
    return None


LIMIT_PERIOD_LENGTH = {
    LimitPeriod.DAY.value: relativedelta(days=1),
    LimitPeriod.WEEK.value: relativedelta(weeks=1),
    LimitPeriod.MONTH.value: relativedelta(months=1),
    LimitPeriod.YEAR.value: relativedelta(years=1),
}


@transaction.atomic
def action_record(
    *,
    membership: Membership,
    code: str,
    reference: str,
    actor: Actor,
    occurred_at: datetime | None = None,
) -> tuple[ActionEvent, bool]:
    """Credit the points of an action rule, within its per-member limit. Idempotent on
    (membership, rule, reference): the same report twice returns the first event."""
    occurred_at = occurred_at or timezone.now()
    membership = lock_membership(membership.pk)
    if membership.status != MembershipStatus.ACTIVE:
        raise MembershipInactive()
    rule = ActionRule.objects.filter(program=membership.program, code=code, is_active=True).first()
    if rule is None:
        raise UnknownAction(f"No active action '{code}' in this program.", field="code")
    existing = ActionEvent.objects.filter(membership=membership, rule=rule, reference=reference)
    if (event := existing.first()) is not None:
        return event, False
    if rule.limit_count is not None:
        done = ActionEvent.objects.filter(membership=membership, rule=rule)
        start = limit_period_start(rule.limit_period, occurred_at)
        if start is not None:
            # only this period's actions: a late report must not count the next day's
            end = start + LIMIT_PERIOD_LENGTH[str(rule.limit_period)]
            done = done.filter(occurred_at__gte=start, occurred_at__lt=end)
        if done.count() >= rule.limit_count:
            raise ActionLimitReached(
                f"'{rule.name}' earns points {rule.limit_count}x "
                f"{rule.get_limit_period_display()}; that is used up."
            )
    event = ActionEvent.objects.create(
        membership=membership,
        rule=rule,
        reference=reference,
        occurred_at=occurred_at,
        points=rule.points,
    )
    points_earn(
        membership,
        points=rule.points,
        source=EntrySource.ACTION,
        idempotency_key=f"action:{event.pk}:earn",
        actor=actor,
        earned_at=occurred_at,
        reason=rule.name,
        action_event=event,
    )
    membership.last_activity_at = max(filter(None, [membership.last_activity_at, occurred_at]))
    membership.save(update_fields=["last_activity_at", "updated_at"])
    membership_tier_upgrade(membership, timezone.now())
    return event, True


@transaction.atomic
def points_adjust(
    *, membership: Membership, points: int, reason: str, user, idempotency_key: str
) -> LedgerEntry:
    """A staff correction with a reason, in the ledger and the staff audit log (who, when,
    the points available before and after).

    Positive adjustments become a new lot, available at once; negative ones draw on the
    available lots and cannot take more than is available. More than
    ``settings.STAFF_ADJUSTMENT_LIMIT`` points either way needs ``ADJUST_UNLIMITED``. The
    same idempotency key again returns the first entry (a double-submitted form applies
    once)."""
    if not reason.strip():
        raise InvalidAmount("Give a reason for the adjustment; it is kept in the ledger.")
    if points == 0:
        raise InvalidAmount("An adjustment of 0 points changes nothing.")
    limit = settings.STAFF_ADJUSTMENT_LIMIT
    if abs(points) > limit and not user.has_perm(ADJUST_UNLIMITED):
        raise AdjustmentAboveLimit(
            _(
                "Your role may adjust at most %(limit)s points at once, up or down. Book up "
                "to %(limit)s points, or ask an administrator to book this adjustment."
            )
            % {"limit": limit},
            field="points",
            limit=limit,
        )
    membership = lock_membership(membership.pk)
    if (existing := entry_by_key(idempotency_key)) is not None:
        if existing.membership_id != membership.pk:
            raise IdempotencyConflict("This adjustment key belongs to another membership.")
        return existing
    actor = Actor.for_staff(user)
    available_before = membership.available
    if points > 0:
        entry = points_earn(
            membership,
            points=points,
            source=EntrySource.STAFF,
            idempotency_key=idempotency_key,
            actor=actor,
            reason=reason,
            kind=EntryKind.ADJUST,
        )
    else:
        membership_expire_overdue(membership)
        if membership.balance < -points:
            raise InsufficientPoints(
                f"Only {membership.balance} points are available to take away.",
                available=membership.balance,
            )
        available_before = membership.available
        entry = points_spend(
            membership,
            points=-points,
            kind=EntryKind.ADJUST,
            source=EntrySource.STAFF,
            idempotency_key=idempotency_key,
            actor=actor,
            reason=reason,
        )
    audit_record(
        user=user,
        action=AuditAction.ADJUST_POINTS,
        obj=membership,
        changes={"available": [available_before, entry.balance_after]},
        note=f"{points:+d}: {reason}",
        customer_id=membership.customer_id,
    )
    return entry
