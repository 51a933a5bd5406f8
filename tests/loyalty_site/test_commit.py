"""enqueue_after_commit: publish after the commit only, and survive a broker outage."""

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
