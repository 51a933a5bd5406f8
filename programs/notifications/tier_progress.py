"""Next tier within reach: after points are earned (a task per award batch, and a daily
safety net), members whose figures are within the program's ``approaching_tier_percent``
of the next tier's threshold are told so, once per tier and qualification period."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from programs.models import Membership
from programs.notifications.models import Notification, NotificationKind
from programs.notifications.services import NotificationSpec, notifications_create_many
from programs.services.tier_figures import (
    next_tier,
    qualification_window,
    qualified_tiers,
    qualifying_values,
    supported_tier,
)

ZERO = Decimal(0)


def tier_progress_check(membership_id: int, now: datetime | None = None) -> Notification | None:
    """Notify once per tier and qualification period when the member's figures are within
    the program's ``approaching_tier_percent`` of the next tier's threshold."""
    keys = tier_progress_checks([membership_id], now)
    return Notification.objects.filter(cause_key__in=keys).first() if keys else None


def tier_progress_checks(membership_ids: Iterable[int], now: datetime | None = None) -> list[str]:
    """``tier_progress_check`` for many memberships, set-based: a few queries per program
    whatever the number of memberships (the worker checks a whole award batch at once).
    Returns the cause keys of the notices that are due (new or already sent)."""
    now = now or timezone.now()
    by_program = defaultdict(list)
    memberships = (
        Membership.objects.select_related("program", "qualified_tier")
        .filter(pk__any=set(membership_ids), program__approaching_tier_percent__gt=0)
        .order_by("pk")
    )
    for membership in memberships:  # gone ones (e.g. a flushed test database) drop out
        by_program[membership.program_id].append(membership)
    specs = []
    for group in by_program.values():
        program = group[0].program
        tiers = qualified_tiers(program)
        if not tiers:
            continue
        start, end = qualification_window(program, now)
        values = qualifying_values(program.tier_metric, [m.pk for m in group], start, end)
        for membership in group:
            value = max(values.get(membership.pk, ZERO), ZERO)
            reached = max(
                [membership.qualified_tier, supported_tier(tiers, value)],
                key=lambda t: -1 if t is None else t.rank,
            )
            target = next_tier(tiers, reached)
            if target is None or target.threshold <= 0:
                continue
            missing = target.threshold - value
            if missing <= 0 or missing > target.threshold * program.approaching_tier_percent / 100:
                continue
            review = membership.tier_review_at
            period = review.date().isoformat() if review else "-"
            specs.append(
                NotificationSpec(
                    customer_id=membership.customer_id,
                    membership_id=membership.pk,
                    kind=NotificationKind.TIER_APPROACHING,
                    cause_key=f"tier-approaching:{membership.pk}:{target.pk}:{period}",
                    params={
                        "program": program.name,
                        "tier": target.name,
                        "missing": str(missing.quantize(Decimal("0.01"))),
                        "metric": program.tier_metric,
                        "currency": program.currency,
                    },
                )
            )
    notifications_create_many(specs, at=now)
    return [spec.cause_key for spec in specs]
