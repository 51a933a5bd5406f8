"""Returns reverse the points a purchase earned, under each return policy; refunds are
idempotent, never exceed the purchase, and re-evaluate the tier."""

from datetime import timedelta
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.utils import timezone

from programs.errors import (
    IdempotencyConflict,
    InvalidAmount,
    NegativeBalance,
    RefundExceedsPurchase,
)
from programs.models import (
    EarnRule,
    EntryKind,
    ExpiryPolicy,
    LedgerEntry,
    Membership,
    PointLot,
    ReturnPolicy,
    TierChange,
    TierChangeReason,
)
from programs.services.due import points_expire_due, points_release_due
from programs.services.purchase_refunds import RefundLine, purchase_refund
from programs.services.rewards import redemption_cancel, reward_redeem
from tests.factories import RewardFactory
from tests.programs.bookkeeping import assert_books_balance, program_set

ALL_POLICIES = [
    ReturnPolicy.PENDING_ONLY,
    ReturnPolicy.WITHIN_AVAILABLE,
    ReturnPolicy.ALLOW_NEGATIVE,
]


def refund(purchase, refund_id, system, amount=None, lines=()):
    purchase.refresh_from_db()
    return purchase_refund(
        purchase=purchase,
        refund_id=refund_id,
        amount=Decimal(amount) if amount is not None else None,
        lines=[RefundLine(line_no=n, quantity=q) for n, q in lines],
        actor=system,
    )


def balances(membership):
    membership.refresh_from_db()
    return membership.balance, membership.pending, membership.debt


@pytest.mark.parametrize(
    ("policy", "reversed_points", "balance_after"),
    [
        # points already available are kept: only pending points are reversed
        (ReturnPolicy.PENDING_ONLY, 0, 100),
        (ReturnPolicy.WITHIN_AVAILABLE, 100, 0),
        (ReturnPolicy.ALLOW_NEGATIVE, 100, 0),
    ],
)
def test_full_refund_of_available_points(
    program, membership, buy, system, policy, reversed_points, balance_after
):
    program_set(program, return_policy=policy)
    purchase = buy(membership, "100.00")
    made, created = refund(purchase, "R-1", system, amount="100.00")
    assert created
    assert made.points_reversed == reversed_points
    assert balances(membership) == (balance_after, 0, 0)
    purchase.refresh_from_db()
    assert purchase.refunded_amount == Decimal("100.00")
    assert purchase.points_reversed == 100  # settled: reversed or kept under the policy
    assert_books_balance(membership)


@pytest.mark.parametrize("policy", ALL_POLICIES)
def test_full_refund_while_pending_reverses_everything(program, membership, buy, system, policy):
    program_set(program, return_policy=policy, pending_days=14)
    purchase = buy(membership, "100.00")
    assert balances(membership) == (0, 100, 0)
    made, _ = refund(purchase, "R-1", system, amount="100.00")
    assert made.points_reversed == 100
    assert balances(membership) == (0, 0, 0)
    entry = LedgerEntry.objects.get(membership=membership, kind=EntryKind.REVERSE)
    assert (entry.points, entry.pending_points) == (0, -100)
    # nothing is left to release later
    assert points_release_due(now=timezone.now() + timedelta(days=15)) == 0
    assert balances(membership) == (0, 0, 0)
    assert_books_balance(membership)


@pytest.mark.parametrize(
    ("policy", "reversed_points", "after"),
    [
        # 80 of the 100 points were spent on a reward; 20 are left
        (ReturnPolicy.PENDING_ONLY, 0, (20, 0, 0)),  # nothing pending: keeps 20
        (ReturnPolicy.WITHIN_AVAILABLE, 20, (0, 0, 0)),  # takes the 20 left
        (ReturnPolicy.ALLOW_NEGATIVE, 100, (0, 0, 80)),  # 20 + a debt of 80
    ],
)
def test_full_refund_after_points_were_spent(
    program, membership, buy, system, policy, reversed_points, after
):
    program_set(program, return_policy=policy)
    purchase = buy(membership, "100.00")
    reward_redeem(
        membership=membership,
        reward=RewardFactory(program=program, points_cost=80),
        actor=system,
    )
    assert balances(membership) == (20, 0, 0)
    made, _ = refund(purchase, "R-1", system, amount="100.00")
    assert made.points_reversed == reversed_points
    assert balances(membership) == after
    membership.refresh_from_db()
    assert membership.available == after[0] - after[2]
    assert_books_balance(membership)


def test_within_available_draws_on_other_lots(program, membership, buy, system):
    program_set(program, return_policy=ReturnPolicy.WITHIN_AVAILABLE)
    first = buy(membership, "100.00")
    buy(membership, "30.00")
    reward_redeem(
        membership=membership,
        reward=RewardFactory(program=program, points_cost=80),
        actor=system,
    )
    # the redemption drew 80 from the first (soonest expiring) lot: lots 20 + 30
    made, _ = refund(first, "R-1", system, amount="100.00")
    # 100 due: 20 from its own lot, 30 from the other lot, the other 50 are gone
    assert made.points_reversed == 50
    assert balances(membership) == (0, 0, 0)
    assert_books_balance(membership)


def test_negative_balance_blocks_redemption_until_earned_back(program, membership, buy, system):
    program_set(program, return_policy=ReturnPolicy.ALLOW_NEGATIVE)
    purchase = buy(membership, "100.00")
    reward = RewardFactory(program=program, points_cost=80)
    reward_redeem(membership=membership, reward=reward, actor=system)
    refund(purchase, "R-1", system, amount="100.00")
    assert balances(membership) == (0, 0, 80)
    small = RewardFactory(program=program, points_cost=1)
    with pytest.raises(NegativeBalance):
        reward_redeem(membership=membership, reward=small, actor=system)

    buy(membership, "50.00")  # -80 + 50 = -30: the new lot pays the debt, nothing left
    assert balances(membership) == (0, 0, 30)
    assert_books_balance(membership)
    with pytest.raises(NegativeBalance):
        reward_redeem(membership=membership, reward=small, actor=system)

    buy(membership, "40.00")  # -30 + 40 = 10
    assert balances(membership) == (10, 0, 0)
    assert_books_balance(membership)
    lots = list(PointLot.objects.filter(membership=membership).values_list("points", "remaining"))
    assert lots == [(100, 0), (50, 0), (40, 10)]
    reward_redeem(membership=membership, reward=small, actor=system)
    assert balances(membership) == (9, 0, 0)
    assert_books_balance(membership)


def test_debt_is_paid_back_by_pending_points_when_released(program, membership, buy, system):
    program_set(program, return_policy=ReturnPolicy.ALLOW_NEGATIVE)
    purchase = buy(membership, "100.00")
    reward_redeem(
        membership=membership,
        reward=RewardFactory(program=program, points_cost=100),
        actor=system,
    )
    refund(purchase, "R-1", system, amount="100.00")
    assert balances(membership) == (0, 0, 100)
    program_set(program, pending_days=14)
    buy(membership, "60.00")
    assert balances(membership) == (0, 60, 100)  # pending points do not pay the debt yet
    points_release_due(now=timezone.now() + timedelta(days=15))
    assert balances(membership) == (0, 0, 40)  # -100 + 60
    assert_books_balance(membership)


def test_partial_refund_by_line(program, membership, buy, system):
    EarnRule.objects.create(program=program, name="Gutscheine", category="gutschein", excluded=True)
    purchase = buy(
        membership,
        "85.00",
        lines=[
            {"sku": "S-1", "category": "schuhe", "quantity": 2, "unit_price": Decimal("30.00")},
            {"sku": "G-1", "category": "gutschein", "quantity": 1, "unit_price": Decimal("25.00")},
        ],
    )
    assert purchase.points_awarded == 60  # shoes 60, gift card 0
    gift, _ = refund(purchase, "R-gift", system, lines=[(2, 1)])
    assert gift.amount == Decimal("25.00")
    assert gift.points_reversed == 0  # the gift card earned nothing
    assert balances(membership) == (60, 0, 0)
    shoe, _ = refund(purchase, "R-shoe", system, lines=[(1, 1)])
    assert shoe.points_reversed == 30  # half of the shoes line: 60 x 1/2
    assert balances(membership) == (30, 0, 0)
    with pytest.raises(RefundExceedsPurchase):
        refund(purchase, "R-too-many", system, lines=[(1, 2)])  # only one pair left
    with pytest.raises(InvalidAmount):
        refund(purchase, "R-no-line", system, lines=[(9, 1)])
    last, _ = refund(purchase, "R-last", system, lines=[(1, 1)])
    assert last.points_reversed == 30
    purchase.refresh_from_db()
    assert purchase.refunded_amount == Decimal("85.00")
    assert purchase.points_reversed == 60
    assert balances(membership) == (0, 0, 0)
    assert_books_balance(membership)


def test_partial_refunds_by_amount_add_up_to_the_points_earned(program, membership, buy, system):
    purchase = buy(membership, "100.00")
    one, _ = refund(purchase, "R-1", system, amount="33.33")  # 100 x 33.33% = 33.33 -> 33
    two, _ = refund(purchase, "R-2", system, amount="33.33")  # 66.66 -> 66: 33 more
    three, _ = refund(purchase, "R-3", system, amount="33.34")  # all refunded: 100, 34 more
    assert [r.points_reversed for r in (one, two, three)] == [33, 33, 34]
    assert balances(membership) == (0, 0, 0)
    with pytest.raises(RefundExceedsPurchase):
        refund(purchase, "R-4", system, amount="0.01")
    assert_books_balance(membership)


def test_refunds_never_exceed_the_purchase(program, membership, buy, system):
    purchase = buy(membership, "100.00")
    refund(purchase, "R-1", system, amount="60.00")  # 60 points back
    with pytest.raises(RefundExceedsPurchase) as excinfo:
        refund(purchase, "R-2", system, amount="50.00")
    assert "40.00" in str(excinfo.value)
    purchase.refresh_from_db()
    assert purchase.refunded_amount == Decimal("60.00")
    assert purchase.refunds.count() == 1
    assert balances(membership) == (40, 0, 0)
    assert_books_balance(membership)


def test_same_refund_id_twice_is_applied_once(program, membership, buy, system):
    purchase = buy(membership, "100.00")
    first, created = refund(purchase, "R-1", system, amount="25.00")
    again, created_again = refund(purchase, "R-1", system, amount="25.00")
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert first.points_reversed == 25
    assert balances(membership) == (75, 0, 0)
    assert LedgerEntry.objects.filter(membership=membership, kind=EntryKind.REVERSE).count() == 1
    purchase.refresh_from_db()
    assert purchase.refunded_amount == Decimal("25.00")
    assert_books_balance(membership)


def test_refund_takes_back_an_upgrade_reached_in_this_window(membership, buy, system, tiers):
    buy(membership, "300.00")
    upgrading = buy(membership, "250.00")  # 550 >= 500: Silber
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]
    refund(upgrading, "R-1", system, amount="40.00")  # 510 still qualifies
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]
    refund(upgrading, "R-2", system, amount="60.00")  # 450 < 500: back to Bronze
    membership.refresh_from_db()
    assert membership.tier == tiers["Bronze"]
    assert membership.qualified_tier == tiers["Bronze"]
    change = TierChange.objects.filter(membership=membership).first()  # newest first
    assert change.reason == TierChangeReason.RETURN
    assert (change.from_tier, change.to_tier) == (tiers["Silber"], tiers["Bronze"])
    assert change.qualifying_value == Decimal("450.00")  # 300 + 250 - 40 - 60
    assert_books_balance(membership)


def test_refund_keeps_a_tier_confirmed_in_an_earlier_period(membership, buy, system, tiers):
    purchase = buy(membership, "600.00")
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]
    # the tier was confirmed before the current window began (e.g. at last year's review)
    Membership.objects.filter(pk=membership.pk).update(
        qualified_tier_since=timezone.now() - relativedelta(months=13)
    )
    refund(purchase, "R-1", system, amount="600.00")
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]


def test_cancelling_a_redemption_after_the_return_does_not_revive_returned_points(
    program, membership, buy, system
):
    program_set(program, return_policy=ReturnPolicy.WITHIN_AVAILABLE)
    purchase = buy(membership, "100.00")
    redemption = reward_redeem(
        membership=membership,
        reward=RewardFactory(program=program, points_cost=80),
        actor=system,
    )
    refund(purchase, "R-1", system, amount="100.00")  # reverses the 20 left; 80 were spent
    assert balances(membership) == (0, 0, 0)
    redemption_cancel(redemption=redemption, actor=system)
    # the 80 points return to the lot of a fully returned purchase: they should go too
    assert balances(membership) == (0, 0, 0)


def test_returning_a_purchase_whose_points_expired_leaves_other_points_alone(
    program, membership, buy, system
):
    program_set(program, expiry_policy=ExpiryPolicy.FIXED_PERIOD, expiry_months=1)
    old = buy(membership, "100.00", occurred_at=timezone.now() - timedelta(days=40))
    assert points_expire_due(now=timezone.now()) == 100  # lapsed a week ago
    buy(membership, "60.00")
    refund(old, "R-1", system, amount="100.00")
    # nothing of the old purchase was left to take back; the 60 are another purchase's
    assert balances(membership) == (60, 0, 0)
    assert_books_balance(membership)


def test_cancelling_after_a_return_that_drew_on_other_lots_reclaims_only_what_was_kept(
    program, membership, buy, system
):
    program_set(program, return_policy=ReturnPolicy.WITHIN_AVAILABLE)
    first = buy(membership, "100.00")
    buy(membership, "30.00")
    redemption = reward_redeem(
        membership=membership,
        reward=RewardFactory(program=program, points_cost=80),
        actor=system,
    )
    refund(first, "R-1", system, amount="100.00")  # 20 of its own + 30 of the other lot
    assert balances(membership) == (0, 0, 0)
    redemption_cancel(redemption=redemption, actor=system)
    # 130 earned, 100 returned: the cancellation leaves exactly 30, not 80
    assert balances(membership) == (30, 0, 0)
    assert_books_balance(membership)


@pytest.mark.parametrize(
    ("policy", "after"),
    [
        (ReturnPolicy.PENDING_ONLY, (100, 0, 0)),  # kept by policy: the cancellation returns it
        (ReturnPolicy.ALLOW_NEGATIVE, (0, 0, 0)),  # the debt was paid back by the cancellation
    ],
)
def test_cancelling_after_a_return_under_the_other_policies(
    program, membership, buy, system, policy, after
):
    program_set(program, return_policy=policy)
    purchase = buy(membership, "100.00")
    redemption = reward_redeem(
        membership=membership,
        reward=RewardFactory(program=program, points_cost=80),
        actor=system,
    )
    refund(purchase, "R-1", system, amount="100.00")
    redemption_cancel(redemption=redemption, actor=system)
    assert balances(membership) == after
    assert_books_balance(membership)


@pytest.mark.parametrize("policy", [ReturnPolicy.WITHIN_AVAILABLE, ReturnPolicy.ALLOW_NEGATIVE])
def test_a_return_takes_the_spent_part_of_a_lot_but_not_its_expired_part(
    program, membership, buy, system, policy
):
    program_set(
        program, return_policy=policy, expiry_policy=ExpiryPolicy.FIXED_PERIOD, expiry_months=1
    )
    old = buy(membership, "100.00", occurred_at=timezone.now() - timedelta(days=20))
    reward_redeem(
        membership=membership,
        reward=RewardFactory(program=program, points_cost=30),
        actor=system,
    )
    assert points_expire_due(now=timezone.now() + timedelta(days=15)) == 70
    buy(membership, "60.00")
    made, _ = refund(old, "R-1", system, amount="100.00")
    # the 30 spent come out of the other points; the 70 that expired are gone already
    assert made.points_reversed == 30
    assert balances(membership) == (30, 0, 0)
    assert_books_balance(membership)


def test_same_refund_id_with_another_amount_is_a_conflict(program, membership, buy, system):
    purchase = buy(membership, "100.00")
    refund(purchase, "R-1", system, amount="25.00")
    with pytest.raises(IdempotencyConflict) as excinfo:
        refund(purchase, "R-1", system, amount="30.00")
    assert excinfo.value.status == 409
    assert excinfo.value.details["field"] == "refund_id"
    purchase.refresh_from_db()
    assert purchase.refunded_amount == Decimal("25.00")
    assert balances(membership) == (75, 0, 0)


def test_same_refund_id_with_other_lines_is_a_conflict(program, membership, buy, system):
    purchase = buy(
        membership,
        "50.00",
        lines=[
            {"sku": "A", "category": "", "quantity": 2, "unit_price": Decimal("10.00")},
            {"sku": "B", "category": "", "quantity": 1, "unit_price": Decimal("30.00")},
        ],
    )
    first, _ = refund(purchase, "R-1", system, lines=[(1, 1)])
    again, created = refund(purchase, "R-1", system, lines=[(1, 1)])  # a true replay
    assert (again.pk, created) == (first.pk, False)
    with pytest.raises(IdempotencyConflict):
        refund(purchase, "R-1", system, lines=[(2, 1)])
    with pytest.raises(IdempotencyConflict):
        refund(purchase, "R-1", system, amount="10.00")  # same value, but not by line
    purchase.refresh_from_db()
    assert purchase.refunded_amount == Decimal("10.00")
