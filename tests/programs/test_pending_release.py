"""Points from a purchase stay pending for the return window, cannot be spent meanwhile, and
are released by the periodic job; purchases older than the window are available at once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from programs.errors import InsufficientPoints
from programs.models import EntryKind, PointLot
from programs.services.actions import points_adjust
from programs.services.due import points_release_due
from programs.services.rewards import reward_redeem
from tests.factories import RewardFactory, StaffFactory
from tests.programs.bookkeeping import assert_books_balance, program_set


@pytest.fixture
def pending_program(program):
    return program_set(program, pending_days=14)


def test_points_are_pending_then_released(pending_program, membership, buy, system):
    bought_at = timezone.now() - timedelta(minutes=1)
    buy(membership, "50.00", occurred_at=bought_at)
    membership.refresh_from_db()
    assert (membership.balance, membership.pending) == (0, 50)
    assert membership.lifetime_earned == 50
    lot = PointLot.objects.get(membership=membership)
    assert lot.released_at is None
    assert lot.available_at == bought_at + timedelta(days=14)
    assert_books_balance(membership)

    # a day before the window ends nothing moves
    assert points_release_due(now=bought_at + timedelta(days=13)) == 0
    membership.refresh_from_db()
    assert (membership.balance, membership.pending) == (0, 50)

    assert points_release_due(now=bought_at + timedelta(days=14)) == 50
    membership.refresh_from_db()
    assert (membership.balance, membership.pending) == (50, 0)
    kinds = list(membership.entries.order_by("id").values_list("kind", "points", "pending_points"))
    assert kinds == [(EntryKind.EARN, 0, 50), (EntryKind.RELEASE, 50, -50)]
    assert_books_balance(membership)

    # running the job again releases nothing more
    assert points_release_due(now=bought_at + timedelta(days=20)) == 0
    assert membership.entries.count() == 2


def test_pending_points_cannot_be_spent(pending_program, membership, buy, system):
    buy(membership, "150.00")
    reward = RewardFactory(program=pending_program, points_cost=100)
    with pytest.raises(InsufficientPoints):
        reward_redeem(membership=membership, reward=reward, actor=system)
    with pytest.raises(InsufficientPoints):
        points_adjust(
            membership=membership,
            points=-10,
            reason="Korrektur",
            user=StaffFactory(),
            idempotency_key="adj-1",
        )
    membership.refresh_from_db()
    assert (membership.balance, membership.pending) == (0, 150)
    assert_books_balance(membership)


def test_purchase_older_than_the_window_is_available_at_once(pending_program, membership, buy):
    buy(membership, "80.00", occurred_at=timezone.now() - timedelta(days=15))
    membership.refresh_from_db()
    assert (membership.balance, membership.pending) == (80, 0)
    assert points_release_due(now=timezone.now() + timedelta(days=30)) == 0
    assert_books_balance(membership)


def test_release_only_moves_lots_that_are_due(pending_program, membership, buy):
    now = timezone.now()
    buy(membership, "30.00", occurred_at=now - timedelta(days=10))  # due in 4 days
    buy(membership, "20.00", occurred_at=now - timedelta(days=2))  # due in 12 days
    membership.refresh_from_db()
    assert (membership.balance, membership.pending) == (0, 50)
    assert points_release_due(now=now + timedelta(days=5)) == 30
    membership.refresh_from_db()
    assert (membership.balance, membership.pending) == (30, 20)
    assert_books_balance(membership)
    assert points_release_due(now=now + timedelta(days=13)) == 20
    membership.refresh_from_db()
    assert (membership.balance, membership.pending) == (50, 0)
    assert_books_balance(membership)
