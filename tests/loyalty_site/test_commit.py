"""enqueue_after_commit: publish after the commit only, and survive a broker outage."""

import contextlib
import logging

import pytest
from django.db import transaction

from loyalty_site.core.commit import enqueue_after_commit


class FakeTask:
    name = "tests.fake_task"

    def __init__(self, error: Exception | None = None):
        self.calls: list[tuple] = []
        self.error = error

    def delay(self, *args):
        if self.error:
            raise self.error
        self.calls.append(args)


@pytest.mark.django_db(transaction=True)
def test_published_after_commit_and_never_for_a_rollback():
    task = FakeTask()
    with transaction.atomic():
        enqueue_after_commit(task, [1, 2])
        assert task.calls == []  # not before the commit
    assert task.calls == [([1, 2],)]

    def rolled_back():
        with transaction.atomic():
            enqueue_after_commit(task, [3])
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        rolled_back()
    assert task.calls == [([1, 2],)]


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_is_logged_not_raised(caplog):
    task = FakeTask(error=OSError("connection refused"))
    with caplog.at_level(logging.ERROR, logger="django.db.backends.base"), transaction.atomic():
        enqueue_after_commit(task, 7)
    assert "tests.fake_task.delay" in caplog.text
    assert "connection refused" in caplog.text


@pytest.fixture
def tier_checks(monkeypatch):
    """The tier-progress task's enqueues, by batch of ids."""
    from celery import current_app

    from programs.notifications.services import TIER_PROGRESS_TASK

    batches: list[list[int]] = []
    monkeypatch.setattr(current_app.tasks[TIER_PROGRESS_TASK], "delay", batches.append)
    return TIER_PROGRESS_TASK, batches


def _write_something() -> None:
    """A write, so that the transaction has an id (as every award has)."""
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    Session.objects.create(session_key=f"k{timezone.now().timestamp()}", expire_date=timezone.now())


class _Rollback(Exception):
    pass


def _rolled_back(work) -> None:
    """Run ``work`` in a transaction (a savepoint if one is open) that is rolled back."""
    with contextlib.suppress(_Rollback), transaction.atomic():
        work()
        raise _Rollback


@pytest.mark.django_db(transaction=True)
def test_ids_of_one_transaction_go_out_in_one_task_after_its_commit(tier_checks):
    from loyalty_site.core.commit import enqueue_ids_after_commit

    name, batches = tier_checks
    with transaction.atomic():
        _write_something()
        for member in (3, 1, 2, 1):
            enqueue_ids_after_commit(name, [member])
        _rolled_back(lambda: enqueue_ids_after_commit(name, [4]))  # a savepoint
        assert batches == []
    assert batches == [[1, 2, 3, 4]]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_gives_nothing_to_the_next(tier_checks):
    from loyalty_site.core.commit import enqueue_ids_after_commit

    name, batches = tier_checks
    _rolled_back(lambda: (_write_something(), enqueue_ids_after_commit(name, [7])))
    with transaction.atomic():
        _write_something()
        enqueue_ids_after_commit(name, [8])
    assert batches == [[8]]
