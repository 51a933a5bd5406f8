"""Actions recorded in bulk (``actions_record_many``, the demo's history) come out as one
by one (``action_record``): the same events, entries, lots, refusals and tier upgrades."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from programs.errors import ActionLimitReached, LoyaltyError
from programs.models import ActionRule, LimitPeriod, TierMetric
from programs.notifications.models import Notification
from programs.services.action_batches import ActionItem, actions_record_many
from programs.services.actions import action_record
from programs.services.memberships import membership_enroll
from tests.factories import CustomerFactory
from tests.programs.bookkeeping import assert_books_balance, program_set

BERLIN = ZoneInfo("Europe/Berlin")
pytestmark = pytest.mark.django_db


def _script() -> list[tuple[str, str, datetime]]:
    """(code, reference, when): a daily-limited action over its limit, a report sent
    twice, an unknown code, and enough points to pass Silber (500) and then Gold (1500)."""
    day = (datetime.now(BERLIN) - timedelta(days=10)).replace(hour=10)
    return [
        ("bag", "b1", day),
        ("bag", "b2", day.replace(hour=11)),
        ("bag", "b3", day.replace(hour=12)),  # over the limit of two a day
        ("review", "r1", day.replace(hour=13)),
        ("review", "r1", day.replace(hour=14)),  # the same report again
        ("nope", "x", day.replace(hour=15)),
        ("review", "r2", day.replace(hour=16)),
        ("review", "r3", day.replace(hour=17)),
        ("bag", "b4", day + timedelta(days=1)),
    ]


def _state(membership) -> dict:
    membership.refresh_from_db()
    return {
        "balances": (membership.balance, membership.pending, membership.lifetime_earned),
        "tier": membership.tier.name,
        "last_activity_at": membership.last_activity_at,
        "entries": list(
            membership.entries.order_by("pk").values_list(
                "kind", "source", "points", "balance_after", "reason", "effective_at"
            )
        ),
        "lots": list(
            membership.lots.order_by("pk").values_list("points", "remaining", "earned_at")
        ),
        "changes": list(
            membership.tier_changes.order_by("pk").values_list(
                "from_tier__name", "to_tier__name", "reason", "qualifying_value"
            )
        ),
        "notifications": sorted(
            Notification.objects.filter(customer=membership.customer).values_list("kind", flat=True)
        ),
    }


def test_bulk_equals_one_by_one(program, tiers, system):
    program_set(program, tier_metric=TierMetric.POINTS)
    ActionRule.objects.create(
        program=program,
        code="bag",
        name="Tasche",
        points=50,
        limit_count=2,
        limit_period=LimitPeriod.DAY,
    )
    ActionRule.objects.create(program=program, code="review", name="Bewertung", points=600)
    one, _ = membership_enroll(customer=CustomerFactory(), program=program)
    bulk, _ = membership_enroll(customer=CustomerFactory(), program=program)
    script = _script()

    singles = []
    for code, reference, when in script:
        try:
            action_record(
                membership=one, code=code, reference=reference, actor=system, occurred_at=when
            )
            singles.append(None)
        except LoyaltyError as exc:
            singles.append(type(exc))
    outcomes = actions_record_many(
        [ActionItem(bulk.pk, code, reference, system, when) for code, reference, when in script]
    )

    refusals = [type(o) if isinstance(o, Exception) else None for o in outcomes]
    assert refusals == singles
    assert ActionLimitReached in refusals
    assert outcomes[4] == outcomes[3]  # the same report again: the first event
    assert _state(bulk) == _state(one)
    assert _state(bulk)["tier"] == "Gold"
    assert len(_state(bulk)["changes"]) == 3  # enrolled, Silber, Gold
    assert_books_balance(bulk)
