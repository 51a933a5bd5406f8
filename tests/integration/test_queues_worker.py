"""Queues by kind of work and worker CPU priority, with a real worker, Redis and PostgreSQL.

A purchase's award goes to the awards queue, a nightly job to the nightly queue: a worker
started for awards alone awards purchases while a backlog of nightly jobs waits untouched.
The worker and its pool processes run at the CPU nice value WORKER_NICE.
"""

import os
from pathlib import Path

import pytest

from loyalty_site import queues
from loyalty_site.celery import app
from programs.models import Purchase, PurchaseStatus
from programs.notifications.tasks import send_notification_emails_task
from programs.tasks import award_purchases_task, import_check_task, reconcile_ledger_task

pytestmark = [
    pytest.mark.redis,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

NIGHTLY_BACKLOG = 200


def nice_of(pid: int) -> int:
    """Field 19 of /proc/<pid>/stat; the command name (field 2) may hold spaces."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


def pool_pids(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_each_kind_of_work_is_published_to_its_own_queue(broker):
    award_purchases_task.delay([1])
    send_notification_emails_task.delay([1])
    import_check_task.delay(1)
    app.send_task("programs.tasks.expire_points_task")  # as beat sends it: by name
    app.send_task("programs.api.tasks.sweep_webhook_deliveries_task")
    app.send_task("loyalty_site.tasks.heartbeat_task")

    lengths = {kind: broker.queue_length(kind) for kind in queues.ALL_QUEUES}
    assert lengths == {
        queues.AWARDS: 1,
        queues.MESSAGES: 1,
        queues.WEBHOOKS: 1,
        queues.IMPORTS: 1,
        queues.NIGHTLY: 1,
        queues.DEFAULT: 1,
    }


def test_an_awards_worker_awards_while_nightly_jobs_wait(workers, broker, enroll, record):
    for _ in range(NIGHTLY_BACKLOG):
        reconcile_ledger_task.delay()
    assert broker.queue_length(queues.NIGHTLY) == NIGHTLY_BACKLOG
    workers.start(kinds=(queues.AWARDS,))

    members = [enroll() for _ in range(3)]
    ids = [record(member, "20.00").pk for member in members]

    workers.wait_until(
        lambda: (
            Purchase.objects.filter(pk__in=ids, status=PurchaseStatus.AWARDED).count() == len(ids)
        ),
        "the awards worker to award every purchase",
    )
    assert broker.queue_length(queues.AWARDS) == 0
    # None of the nightly jobs was taken: the awards worker never looked at them.
    assert broker.queue_length(queues.NIGHTLY) == NIGHTLY_BACKLOG
    assert "reconcile_ledger_task[" not in workers.started[0].log()  # none received
    workers.assert_clean()


def test_worker_and_pool_processes_run_at_worker_nice(workers, monkeypatch):
    own = os.getpriority(os.PRIO_PROCESS, 0)
    assert own < queues.MAX_NICE, "the test runs at the lowest priority: nothing to lower"
    nice = min(own + 5, queues.MAX_NICE)
    monkeypatch.setenv("WORKER_NICE", str(nice))

    worker = workers.start()

    pool = pool_pids(worker.process.pid)
    assert len(pool) == 2  # --concurrency 2
    assert [nice_of(pid) for pid in [worker.process.pid, *pool]] == [nice, nice, nice]
    assert os.getpriority(os.PRIO_PROCESS, 0) == own  # this (web-like) process is untouched


def test_worker_nice_zero_leaves_the_priority_alone(workers, monkeypatch):
    own = os.getpriority(os.PRIO_PROCESS, 0)
    monkeypatch.setenv("WORKER_NICE", "0")

    worker = workers.start()

    pool = pool_pids(worker.process.pid)
    assert [nice_of(pid) for pid in [worker.process.pid, *pool]] == [own] * (1 + len(pool))
