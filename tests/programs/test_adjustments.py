"""Staff adjustments: a reason is required, a deduction cannot exceed the available balance,
and the entry records who made it and the balance before and after."""

import pytest

from programs.errors import InsufficientPoints, InvalidAmount
from programs.models import ActorType, EntryKind, EntrySource, LedgerEntry, ReturnPolicy
from programs.services.actions import points_adjust
from programs.services.purchase_refunds import purchase_refund
from programs.services.rewards import reward_redeem
from tests.factories import RewardFactory, StaffFactory
from tests.programs.bookkeeping import assert_books_balance, program_set


@pytest.fixture
def staff(db):
    return StaffFactory(username="sachbearbeiterin")


def adjust(membership, staff, points, reason="Kulanz", key=None):
    points_adjust(
        membership=membership,
        points=points,
        reason=reason,
        user=staff,
        idempotency_key=key or f"adjust:{membership.pk}:{points}:{reason}",
    )


def balance(membership):
    membership.refresh_from_db()
    return membership.balance


@pytest.mark.parametrize("reason", ["", "   "])
def test_adjustment_needs_a_reason(membership, staff, reason):
    with pytest.raises(InvalidAmount):
        adjust(membership, staff, 50, reason=reason)
    assert not LedgerEntry.objects.filter(membership=membership).exists()


def test_zero_adjustment_is_refused(membership, staff):
    with pytest.raises(InvalidAmount):
        adjust(membership, staff, 0)


def test_positive_adjustment_is_audited(membership, staff, buy):
    buy(membership, "30.00")
    adjust(membership, staff, 50, reason="Paket verloren, Entschuldigung")
    assert balance(membership) == 80
    entry = LedgerEntry.objects.get(membership=membership, kind=EntryKind.ADJUST)
    assert entry.source == EntrySource.STAFF
    assert (entry.actor_type, entry.actor_user) == (ActorType.STAFF, staff)
    assert entry.reason == "Paket verloren, Entschuldigung"
    # old and new value: 30 before, 80 after
    assert (entry.balance_after - entry.points, entry.balance_after) == (30, 80)
    assert entry.lot.remaining == 50  # a new lot, available at once
    assert_books_balance(membership)


def test_negative_adjustment_cannot_exceed_the_balance(membership, staff, buy):
    buy(membership, "50.00")
    with pytest.raises(InsufficientPoints):
        adjust(membership, staff, -51)
    assert balance(membership) == 50
    adjust(membership, staff, -20, reason="doppelt gebucht")
    assert balance(membership) == 30
    entry = LedgerEntry.objects.get(membership=membership, kind=EntryKind.ADJUST)
    assert (entry.points, entry.balance_after, entry.actor_user) == (-20, 30, staff)
    assert list(entry.allocations.values_list("points", flat=True)) == [20]
    adjust(membership, staff, -30, reason="Rest")
    assert balance(membership) == 0
    assert_books_balance(membership)


def test_same_key_is_not_applied_twice(membership, staff):
    adjust(membership, staff, 40, key="ticket-123")
    adjust(membership, staff, 40, key="ticket-123")
    assert balance(membership) == 40
    assert LedgerEntry.objects.filter(membership=membership).count() == 1


def test_positive_adjustment_pays_a_debt_first(program, membership, staff, buy, system):
    program_set(program, return_policy=ReturnPolicy.ALLOW_NEGATIVE)
    purchase = buy(membership, "100.00")
    reward_redeem(
        membership=membership,
        reward=RewardFactory(program=program, points_cost=100),
        actor=system,
    )
    purchase_refund(purchase=purchase, refund_id="R-1", amount=purchase.amount, actor=system)
    membership.refresh_from_db()
    assert (membership.balance, membership.debt) == (0, 100)
    with pytest.raises(InsufficientPoints):
        adjust(membership, staff, -1)
    adjust(membership, staff, 150, reason="Kulanz")  # -100 + 150 = 50
    membership.refresh_from_db()
    assert (membership.balance, membership.debt) == (50, 0)
    assert_books_balance(membership)
