"""Holds under concurrency: real PostgreSQL, real threads, real transactions (the pattern
of ``test_concurrency``): tills holding against one balance at once never hold more than
it; a capture racing a void or the expiry job ends one way only."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from programs.errors import HoldExpired, HoldNotHeld, InsufficientPoints
from programs.models import EntryKind, HoldStatus, LedgerEntry, PointsHold
from programs.services.holds import hold_capture, hold_place, hold_void, holds_expire_due
from programs.services.memberships import membership_enroll
from tests.factories import CustomerFactory
from tests.programs.test_concurrency import (
    assert_books_balance,
    errors_of,
    no_errors,
    only_domain_errors,
    results_of,
    run_concurrently,
)

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def member(program):
    """A member without tiers, so every euro earns exactly one point."""
    membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
    return membership


def test_fifty_holds_at_once_never_hold_more_than_the_balance(member, buy, partner):
    for _ in range(5):  # 1000 points in five lots: holds cross lot boundaries
        buy(member, "200.00")

    def work(i):
        hold, _ = hold_place(
            membership=member,
            partner=partner,
            amount=Decimal("0.70"),  # 70 points at 0.01 a point
            idempotency_key=f"till-{i}",
        )
        return hold.points

    outcomes = run_concurrently(50, work)
    only_domain_errors(outcomes, InsufficientPoints)
    fits = 1000 // 70  # 14 holds of 70 points, 20 points left
    assert results_of(outcomes) == [70] * fits
    assert len(errors_of(outcomes)) == 50 - fits
    member.refresh_from_db()
    assert (member.balance, member.held) == (1000 - fits * 70, fits * 70)
    assert PointsHold.objects.filter(status=HoldStatus.HELD).count() == fits
    assert_books_balance(member)


@pytest.fixture
def ten_holds(member, buy, partner):
    """300 points, all held by ten holds of 30 points (0.30 EUR each)."""
    buy(member, "300.00")
    return [
        hold_place(
            membership=member, partner=partner, amount=Decimal("0.30"), idempotency_key=f"h-{i}"
        )[0]
        for i in range(10)
    ]


def test_capture_and_void_of_one_hold_at_once_end_one_way(member, ten_holds):
    def work(i):
        hold = ten_holds[i // 2]
        if i % 2:
            return hold_void(hold=hold).status
        return hold_capture(hold=hold).status

    outcomes = run_concurrently(20, work)
    only_domain_errors(outcomes, HoldNotHeld)
    assert len(results_of(outcomes)) == 10  # one winner per hold
    statuses = list(PointsHold.objects.values_list("status", flat=True))
    captured = statuses.count(HoldStatus.CAPTURED)
    assert captured + statuses.count(HoldStatus.VOIDED) == 10
    member.refresh_from_db()
    assert (member.balance, member.held) == (300 - 30 * captured, 0)
    assert LedgerEntry.objects.filter(kind=EntryKind.HOLD_RELEASE).count() == 10 - captured
    assert_books_balance(member)


def test_captures_racing_the_expiry_job_end_one_way(member, ten_holds):
    after_expiry = timezone.now() + timedelta(minutes=20)

    def work(i):
        if i == 10:
            return holds_expire_due(now=after_expiry)
        return hold_capture(hold=ten_holds[i]).status

    outcomes = run_concurrently(11, work)
    only_domain_errors(outcomes, HoldExpired)
    statuses = list(PointsHold.objects.values_list("status", flat=True))
    captured, expired = statuses.count(HoldStatus.CAPTURED), statuses.count(HoldStatus.EXPIRED)
    assert captured + expired == 10
    assert outcomes[10] == ("ok", expired)  # the job counted exactly the holds it released
    assert len(errors_of(outcomes)) == expired  # each of them refused its capture
    member.refresh_from_db()
    assert (member.balance, member.held) == (30 * expired, 0)
    assert_books_balance(member)


def test_holds_and_captures_of_two_members_at_once_do_not_deadlock(member, buy, partner, program):
    other, _ = membership_enroll(customer=CustomerFactory(), program=program)
    buy(member, "200.00")
    buy(other, "200.00")
    members = [member, other]

    def work(i):
        hold, _ = hold_place(
            membership=members[i % 2],
            partner=partner,
            amount=Decimal("0.10"),
            idempotency_key=f"t-{i}",
        )
        return hold_capture(hold=hold, points=5).points_captured

    outcomes = run_concurrently(20, work)
    no_errors(outcomes)
    assert results_of(outcomes) == [5] * 20
    for membership in members:
        membership.refresh_from_db()
        assert (membership.balance, membership.held) == (200 - 10 * 5, 0)  # 10 captures of 5
    assert_books_balance(member, other)
