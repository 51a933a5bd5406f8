"""The expiry job, set-based: many members and lots per run, each lot expired exactly once,
with the same entries and balances as expiring them one by one."""

from datetime import timedelta

import pytest
from dateutil.relativedelta import relativedelta
from django.utils import timezone

from programs.models import EntryKind, ExpiryPolicy, LedgerEntry, PointLot
from programs.services import due
from programs.services.due import points_expire_due
from programs.services.memberships import membership_enroll
from programs.services.rewards import reward_redeem
from tests.factories import CustomerFactory, RewardFactory
from tests.programs.bookkeeping import assert_books_balance, program_set
from tests.programs.test_concurrency import run_concurrently


def members_with_old_and_new_lots(program, buy, count: int):
    """``count`` members, each with two lots past their date (10 and 20 points) and one
    still valid (5 points)."""
    program_set(program, expiry_policy=ExpiryPolicy.FIXED_PERIOD, expiry_months=12)
    now = timezone.now()
    memberships = []
    for _ in range(count):
        membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
        buy(membership, "10.00", occurred_at=now - relativedelta(months=14))
        buy(membership, "20.00", occurred_at=now - relativedelta(months=13))
        buy(membership, "5.00", occurred_at=now - relativedelta(months=2))
        memberships.append(membership)
    return memberships, now


def test_expires_every_due_lot_of_many_members_once(program, tiers, buy):
    memberships, now = members_with_old_and_new_lots(program, buy, 6)

    assert points_expire_due(now=now) == 6 * 30

    for membership in memberships:
        membership.refresh_from_db()
        assert membership.balance == 5
        expires = list(
            LedgerEntry.objects.filter(membership=membership, kind=EntryKind.EXPIRE).order_by("id")
        )
        # one entry per lot, oldest lot first, each with the running balance after it
        assert [(e.points, e.balance_after) for e in expires] == [(-10, 25), (-20, 5)]
        lots = PointLot.objects.filter(membership=membership).order_by("earned_at")
        assert [(lot.remaining, lot.expired_at is not None) for lot in lots] == [
            (0, True),
            (0, True),
            (5, False),
        ]
        assert [list(e.allocations.values_list("points", flat=True)) for e in expires] == [
            [10],
            [20],
        ]
        assert_books_balance(membership)

    # a second run finds nothing
    assert points_expire_due(now=now + timedelta(hours=1)) == 0
    assert LedgerEntry.objects.filter(kind=EntryKind.EXPIRE).count() == 12


def test_partly_spent_lot_expires_only_what_is_left(program, tiers, buy, system):
    program_set(program, expiry_policy=ExpiryPolicy.FIXED_PERIOD, expiry_months=12)
    now = timezone.now()
    membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
    buy(membership, "50.00", occurred_at=now - relativedelta(months=11))
    reward_redeem(
        membership=membership, reward=RewardFactory(program=program, points_cost=30), actor=system
    )
    assert points_expire_due(now=now + relativedelta(months=2)) == 20
    membership.refresh_from_db()
    assert membership.balance == 0
    assert_books_balance(membership)


def test_a_member_whose_lots_span_batches_stays_consistent(program, tiers, buy, monkeypatch):
    memberships, now = members_with_old_and_new_lots(program, buy, 3)
    monkeypatch.setattr(due, "BATCH", 3)  # the 6 due lots in batches of 3: split members

    assert points_expire_due(now=now) == 90

    for membership in memberships:
        balances = list(
            LedgerEntry.objects.filter(membership=membership, kind=EntryKind.EXPIRE)
            .order_by("id")
            .values_list("balance_after", flat=True)
        )
        assert balances == [25, 5]
        assert_books_balance(membership)


def test_inactivity_expires_all_points_of_many_members(program, tiers, buy):
    now = timezone.now()
    program_set(program, expiry_policy=ExpiryPolicy.INACTIVITY, expiry_months=12)
    memberships = []
    for _ in range(4):
        membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
        buy(membership, "10.00")
        buy(membership, "15.00")
        memberships.append(membership)

    assert points_expire_due(now=now + relativedelta(months=13)) == 4 * 25
    for membership in memberships:
        membership.refresh_from_db()
        assert membership.balance == 0
        assert_books_balance(membership)


def test_query_count_does_not_grow_with_the_members(
    program, tiers, buy, django_assert_max_num_queries
):
    _memberships, now = members_with_old_and_new_lots(program, buy, 25)
    # one batch: find the lots, the inactivity programs, lock, read lots, insert
    # entries, insert allocations, update lots, update memberships (+ savepoints)
    with django_assert_max_num_queries(12):
        assert points_expire_due(now=now) == 25 * 30


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_expire_each_lot_once(program, tiers, buy):
    memberships, now = members_with_old_and_new_lots(program, buy, 8)

    outcomes = run_concurrently(3, lambda _i: points_expire_due(now=now))

    assert [kind for kind, _ in outcomes] == ["ok"] * 3, outcomes
    assert sum(result for _kind, result in outcomes) == 8 * 30
    assert LedgerEntry.objects.filter(kind=EntryKind.EXPIRE).count() == 16
    for membership in memberships:
        membership.refresh_from_db()
        assert membership.balance == 5
        assert_books_balance(membership)
