"""Enqueue Celery tasks only after the surrounding transaction commits."""

import threading

from celery import current_app
from django.db import connection, transaction


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


_merged = threading.local()


def enqueue_ids_after_commit(task: str, ids) -> None:
    """``task.delay(sorted ids)`` once the transaction commits, with every id given to it
    for ``task`` in this transaction: a transaction that awards points to members one by
    one (the demo data, a long admin action) enqueues one task, not one per member.

    The transaction is told apart by PostgreSQL's id of it (assigned by its first write),
    so what a rolled-back transaction gathered is never mixed into the next one. Outside a
    transaction, or before any write, each call enqueues on its own."""
    ids = set(ids)
    if not ids:
        return
    xid = None
    if connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_xact_id_if_assigned()::text")
            xid = cursor.fetchone()[0]
    if xid is None:
        enqueue_after_commit(task, sorted(ids))
        return
    pending = getattr(_merged, "pending", None)
    if pending is None or pending[0] != xid:  # another transaction's (done or rolled back)
        pending = _merged.pending = (xid, {})
    gathered = pending[1]
    gathered.setdefault(task, set()).update(ids)

    # Registered at every call, so a savepoint rolled back with an earlier registration
    # loses nothing; the first to run at the commit takes the whole set, the others none.
    def publish() -> None:
        batch = gathered.pop(task, None)
        if batch:
            current_app.tasks[task].delay(sorted(batch))

    run_after_commit(publish, f"{task}.delay")
