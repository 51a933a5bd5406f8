"""Which lots a redemption draws from (oldest earned vs soonest expiring), and cancellations
returning points to those same lots, expiring them again if the lot has lapsed meanwhile."""

import pytest
from dateutil.relativedelta import relativedelta
from django.utils import timezone

from programs.errors import RedemptionNotCancellable
from programs.models import EntryKind, ExpiryPolicy, LedgerEntry, PointLot, RedemptionOrder
from programs.services.due import points_expire_due
from programs.services.rewards import redemption_cancel, reward_redeem
from tests.factories import RewardFactory
from tests.programs.bookkeeping import assert_books_balance, program_set


def remaining(*lots):
    return [PointLot.objects.get(pk=lot.pk).remaining for lot in lots]


@pytest.fixture
def two_lots(program, membership, buy):
    """Lot A (100) earned 6 months ago under a 36-month expiry, lot B (50) a month ago after
    staff cut the expiry to 12 months: A is older, but B expires first."""
    now = timezone.now()
    program_set(program, expiry_policy=ExpiryPolicy.FIXED_PERIOD, expiry_months=36)
    buy(membership, "100.00", occurred_at=now - relativedelta(months=6))
    program_set(program, expiry_months=12)
    buy(membership, "50.00", occurred_at=now - relativedelta(months=1))
    a, b = PointLot.objects.filter(membership=membership).order_by("earned_at")
    assert (a.points, b.points) == (100, 50)
    assert b.expires_at < a.expires_at
    return a, b


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (RedemptionOrder.OLDEST_EARNED, [70, 50]),  # 30 from A
        (RedemptionOrder.SOONEST_EXPIRING, [100, 20]),  # 30 from B
    ],
)
def test_redemption_order_decides_the_lot(program, membership, two_lots, system, order, expected):
    program_set(program, redemption_order=order)
    redemption = reward_redeem(
        membership=membership,
        reward=RewardFactory(program=program, points_cost=30),
        actor=system,
    )
    assert remaining(*two_lots) == expected
    entry = redemption.entries.get(kind=EntryKind.REDEEM)
    drawn = dict(entry.allocations.values_list("lot", "points"))
    source = two_lots[0] if order == RedemptionOrder.OLDEST_EARNED else two_lots[1]
    assert drawn == {source.pk: 30}
    assert_books_balance(membership)


@pytest.mark.parametrize(
    ("order", "after_redeem"),
    [
        (RedemptionOrder.OLDEST_EARNED, [0, 30]),  # 100 from A, 20 from B
        (RedemptionOrder.SOONEST_EXPIRING, [30, 0]),  # 50 from B, 70 from A
    ],
)
def test_cancel_returns_points_to_the_same_lots(
    program, membership, two_lots, system, order, after_redeem
):
    program_set(program, redemption_order=order)
    reward = RewardFactory(program=program, points_cost=120, stock=3)
    redemption = reward_redeem(membership=membership, reward=reward, actor=system)
    assert remaining(*two_lots) == after_redeem
    membership.refresh_from_db()
    assert membership.balance == 30  # 150 - 120

    redemption_cancel(redemption=redemption, actor=system)
    assert remaining(*two_lots) == [100, 50]
    membership.refresh_from_db()
    reward.refresh_from_db()
    assert membership.balance == 150
    assert reward.stock == 3
    cancel = LedgerEntry.objects.get(membership=membership, kind=EntryKind.REDEEM_CANCEL)
    assert cancel.points == 120
    assert_books_balance(membership)


def test_cancel_after_the_lot_expired_expires_the_returned_points(program, membership, buy, system):
    program_set(program, expiry_policy=ExpiryPolicy.FIXED_PERIOD, expiry_months=24)
    now = timezone.now()
    buy(membership, "100.00", occurred_at=now - relativedelta(months=23))  # lot A: due in 1 month
    buy(membership, "50.00", occurred_at=now - relativedelta(days=1))  # lot B
    a, b = PointLot.objects.filter(membership=membership).order_by("earned_at")
    redemption = reward_redeem(
        membership=membership,
        reward=RewardFactory(program=program, points_cost=30),
        actor=system,
    )
    assert remaining(a, b) == [70, 50]  # soonest expiring: A

    assert points_expire_due(now=now + relativedelta(months=2)) == 70  # A lapses
    membership.refresh_from_db()
    assert membership.balance == 50

    redemption_cancel(redemption=redemption, actor=system)
    membership.refresh_from_db()
    # the 30 points go back to A, which has expired: they expire again at once
    assert membership.balance == 50
    assert remaining(a, b) == [0, 50]
    entries = list(membership.entries.order_by("id").values_list("kind", "points", "balance_after"))
    assert entries == [
        (EntryKind.EARN, 100, 100),
        (EntryKind.EARN, 50, 150),
        (EntryKind.REDEEM, -30, 120),
        (EntryKind.EXPIRE, -70, 50),
        (EntryKind.REDEEM_CANCEL, 30, 80),
        (EntryKind.EXPIRE, -30, 50),
    ]
    assert_books_balance(membership)


def test_cancel_twice_is_refused(program, membership, buy, system):
    buy(membership, "100.00")
    redemption = reward_redeem(
        membership=membership,
        reward=RewardFactory(program=program, points_cost=40),
        actor=system,
    )
    redemption_cancel(redemption=redemption, actor=system)
    with pytest.raises(RedemptionNotCancellable):
        redemption_cancel(redemption=redemption, actor=system)
    membership.refresh_from_db()
    assert membership.balance == 100
    assert_books_balance(membership)
