"""Action-based earning: points per action rule, a per-member limit per calendar period
(Europe/Berlin), idempotent on the partner's reference."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from programs.errors import ActionLimitReached, MembershipInactive, UnknownAction
from programs.models import (
    ActionEvent,
    ActionRule,
    EntryKind,
    EntrySource,
    LimitPeriod,
    MembershipStatus,
)
from programs.services.actions import action_record
from tests.programs.bookkeeping import assert_books_balance

BERLIN = ZoneInfo("Europe/Berlin")


def at(*args):
    return datetime(*args, tzinfo=BERLIN)


@pytest.fixture
def report(membership, system):
    counter = {"n": 0}

    def _report(code, occurred_at, reference=None):
        counter["n"] += 1
        event, _ = action_record(
            membership=membership,
            code=code,
            reference=reference or f"ref-{counter['n']}",
            actor=system,
            occurred_at=occurred_at,
        )
        return event

    return _report


def rule(program, period, limit, points=10, code="bag"):
    return ActionRule.objects.create(
        program=program,
        code=code,
        name=code,
        points=points,
        limit_count=limit,
        limit_period=period,
    )


def balance(membership):
    membership.refresh_from_db()
    return membership.balance


def test_action_earns_the_rules_points(program, membership, report):
    rule(program, LimitPeriod.LIFETIME, None, points=25, code="review")
    event = report("review", at(2025, 3, 10, 10))
    assert event.points == 25
    entry = event.entries.get()
    assert (entry.kind, entry.source, entry.points) == (EntryKind.EARN, EntrySource.ACTION, 25)
    assert entry.lot.earned_at == at(2025, 3, 10, 10)
    assert balance(membership) == 25
    membership.refresh_from_db()
    assert membership.last_activity_at == at(2025, 3, 10, 10)
    assert_books_balance(membership)


def test_limit_per_day_uses_the_berlin_day(program, membership, report):
    rule(program, LimitPeriod.DAY, 1)
    report("bag", at(2025, 3, 10, 10))
    with pytest.raises(ActionLimitReached):
        report("bag", at(2025, 3, 10, 23, 30))
    # 00:30 in Berlin is still the 10th in UTC, but a new day for the member
    report("bag", at(2025, 3, 11, 0, 30))
    assert balance(membership) == 20


def test_limit_per_week_runs_monday_to_sunday(program, membership, report):
    rule(program, LimitPeriod.WEEK, 2)
    report("bag", at(2025, 3, 10, 9))  # Monday
    report("bag", at(2025, 3, 16, 22))  # Sunday
    with pytest.raises(ActionLimitReached):
        report("bag", at(2025, 3, 16, 23))
    report("bag", at(2025, 3, 17, 0, 30))  # next Monday
    assert balance(membership) == 30


def test_limit_per_month(program, membership, report):
    rule(program, LimitPeriod.MONTH, 1)
    report("bag", at(2025, 3, 1, 0, 10))
    with pytest.raises(ActionLimitReached):
        report("bag", at(2025, 3, 31, 23, 50))
    report("bag", at(2025, 4, 1, 0, 10))
    assert balance(membership) == 20


def test_limit_per_year(program, membership, report):
    rule(program, LimitPeriod.YEAR, 1, points=100, code="birthday")
    report("birthday", at(2024, 6, 1, 8))
    with pytest.raises(ActionLimitReached):
        report("birthday", at(2024, 12, 31, 23))
    report("birthday", at(2025, 1, 1, 1))
    assert balance(membership) == 200


def test_lifetime_limit(program, membership, report):
    rule(program, LimitPeriod.LIFETIME, 1, points=50, code="signup")
    report("signup", at(2020, 1, 1, 12))
    with pytest.raises(ActionLimitReached):
        report("signup", at(2025, 1, 1, 12))
    assert balance(membership) == 50
    assert ActionEvent.objects.filter(membership=membership).count() == 1


def test_a_late_report_counts_against_its_own_period(program, membership, report):
    rule(program, LimitPeriod.DAY, 1)
    report("bag", at(2025, 3, 11, 10))
    # the till syncs yesterday's action late: yesterday's allowance is still unused
    report("bag", at(2025, 3, 10, 10))
    assert balance(membership) == 20
    with pytest.raises(ActionLimitReached):
        report("bag", at(2025, 3, 10, 18))


def test_no_limit(program, membership, report):
    rule(program, LimitPeriod.DAY, None, points=5)
    for hour in range(8, 13):
        report("bag", at(2025, 3, 10, hour))
    assert balance(membership) == 25


def test_same_reference_is_idempotent(program, membership, system):
    rule(program, LimitPeriod.DAY, 1)
    first, created = action_record(
        membership=membership,
        code="bag",
        reference="receipt-77",
        actor=system,
        occurred_at=at(2025, 3, 10, 10),
    )
    # the replay returns the first event; it neither earns again nor hits the limit
    again, created_again = action_record(
        membership=membership,
        code="bag",
        reference="receipt-77",
        actor=system,
        occurred_at=at(2025, 3, 10, 10),
    )
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert balance(membership) == 10
    assert membership.entries.count() == 1


def test_unknown_or_inactive_code_is_refused(program, membership, system):
    with pytest.raises(UnknownAction):
        action_record(membership=membership, code="nope", reference="r", actor=system)
    ActionRule.objects.create(program=program, code="old", name="alt", points=5, is_active=False)
    with pytest.raises(UnknownAction):
        action_record(membership=membership, code="old", reference="r", actor=system)
    assert balance(membership) == 0


def test_inactive_membership_earns_nothing(program, membership, system):
    rule(program, LimitPeriod.DAY, None)
    membership.status = MembershipStatus.CLOSED
    membership.save(update_fields=["status"])
    with pytest.raises(MembershipInactive):
        action_record(membership=membership, code="bag", reference="r", actor=system)
    assert balance(membership) == 0
