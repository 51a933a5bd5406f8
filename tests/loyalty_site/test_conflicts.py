"""A transaction that PostgreSQL aborts as a deadlock victim is run again, a bounded
number of times; nested in an outer transaction it is not (only the owner may retry)."""

import threading

import pytest
from django.db import OperationalError, connection, transaction
from psycopg.errors import DeadlockDetected

from loyalty_site.core import conflicts
from loyalty_site.core.conflicts import retry_on_conflict
from programs.models import Program
from tests.factories import ProgramFactory
from tests.programs.test_concurrency import run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True)]


def lock(pk: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM programs_program WHERE id = %s FOR UPDATE", [pk])


def crossing(first: list[int], attempts: list[int]):
    """Two transactions locking the same two rows in opposite orders: the first tries meet
    in the middle (a deadlock), later tries run without waiting for each other."""
    both_hold_one = threading.Barrier(2)

    @retry_on_conflict
    def work(i: int) -> int:
        attempts[i] += 1
        with transaction.atomic():
            lock(first[i])
            if attempts[i] == 1:
                both_hold_one.wait(timeout=10)
            lock(first[1 - i])
            Program.objects.filter(pk=first[i]).update(name=f"by {i}")
        return attempts[i]

    return work


def test_the_deadlock_victim_is_run_again_and_both_succeed():
    a, b = ProgramFactory().pk, ProgramFactory().pk
    attempts = [0, 0]

    outcomes = run_concurrently(2, crossing([a, b], attempts))

    assert [status for status, _ in outcomes] == ["ok", "ok"]
    assert sorted(attempts) == [1, 2]  # one of them was the victim, once


def test_the_last_attempt_raises(monkeypatch):
    monkeypatch.setattr(conflicts, "ATTEMPTS", 1)
    a, b = ProgramFactory().pk, ProgramFactory().pk
    attempts = [0, 0]

    outcomes = run_concurrently(2, crossing([a, b], attempts))

    errors = [value for status, value in outcomes if status == "error"]
    assert len(errors) == 1
    assert isinstance(errors[0], OperationalError)
    assert conflicts.is_conflict(errors[0])
    assert attempts == [1, 1]


def test_inside_an_outer_transaction_it_runs_once(monkeypatch):
    monkeypatch.setattr(conflicts, "PAUSE", 0)
    calls = []

    @retry_on_conflict
    def work():
        calls.append(1)
        raise OperationalError("deadlock detected") from DeadlockDetected()

    with pytest.raises(OperationalError):
        work()
    assert len(calls) == conflicts.ATTEMPTS
    calls.clear()
    with pytest.raises(OperationalError), transaction.atomic():
        work()
    assert len(calls) == 1
