"""Enqueue Celery tasks only after the surrounding transaction commits."""

from celery import current_app
from django.db import transaction


def run_after_commit(func, name: str) -> None:
    """Call ``func()`` once the transaction commits, robustly (see below), logged as
    ``name`` if it fails."""
    func.__qualname__ = name
    transaction.on_commit(func, robust=True)


def enqueue_after_commit(task, *args) -> None:
    """``task.delay(*args)`` once the transaction commits; never for a rollback.

    ``task`` is a task or a registered task's name: a service may enqueue a task of its own
    app by name where importing the tasks module (which imports the service) would close
    an import circle.

    Robust: a broker outage at that moment is logged, not raised into a request whose data
    is already committed; the periodic sweepers pick up what was not enqueued. (A named
    function rather than a ``functools.partial``: Django logs the failure by the callback's
    ``__qualname__``, which a partial lacks, turning the log call itself into an error.)"""

    name = task if isinstance(task, str) else task.name

    def publish() -> None:
        (current_app.tasks[name] if isinstance(task, str) else task).delay(*args)

    run_after_commit(publish, f"{name}.delay")
