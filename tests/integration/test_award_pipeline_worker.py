"""The award pipeline with a real Celery worker process, Redis and PostgreSQL (not eager).

Each test proves one promise of issue 4: a recorded purchase is awarded by the worker
exactly once, whether the broker was down when it was recorded, the worker was killed in
the middle of a batch, the same message arrived several times at once, or the transaction
that would have enqueued it rolled back. Outcomes are polled from the database with a
deadline; a test that times out fails with the tail of the worker's log.
"""

import logging
import re
from contextlib import suppress
from datetime import timedelta
from functools import partial

import pytest
from django.db import transaction
from django.db.models import Count, F, Sum
from kombu.exceptions import OperationalError as BrokerUnreachable

from programs.models import EntryKind, LedgerEntry, Membership, Purchase, PurchaseStatus
from programs.services.due import ledger_drift
from programs.tasks import SWEEP_AFTER_SECONDS, award_purchases_task, sweep_received_purchases_task

pytestmark = [
    pytest.mark.redis,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

AWARD_SUCCEEDED = re.compile(r"award_purchases_task\[[0-9a-f-]+\] succeeded in \S+s: (\d+)")
AWARD_RECEIVED = re.compile(r"award_purchases_task\[[0-9a-f-]+\] received")


def awarded(ids) -> int:
    return Purchase.objects.filter(pk__in=ids, status=PurchaseStatus.AWARDED).count()


def earn_entries_per_purchase(ids) -> dict[int, int]:
    rows = (
        LedgerEntry.objects.filter(purchase__in=ids, kind=EntryKind.EARN)
        .values("purchase")
        .annotate(n=Count("id"))
    )
    return {row["purchase"]: row["n"] for row in rows}


def award_returns(worker) -> list[int]:
    """What each award task run by this worker returned: how many purchases it awarded."""
    return [int(n) for n in AWARD_SUCCEEDED.findall(worker.log())]


def make_sweepable(ids) -> None:
    """Let the sweeper's delay pass: the purchases were received a moment ago."""
    Purchase.objects.filter(pk__in=ids).update(
        received_at=F("received_at") - timedelta(seconds=SWEEP_AFTER_SECONDS + 1)
    )


class RequestFailed(Exception):
    pass


def in_rolled_back_transaction(work):
    """Run ``work()`` in a transaction that then fails and rolls back, as a request that
    errors after its writes does; return what ``work`` returned."""
    result = []
    with suppress(RequestFailed), transaction.atomic():
        result.append(work())
        raise RequestFailed
    return result[0]


def assert_awarded_exactly_once(ids) -> None:
    assert awarded(ids) == len(ids)
    assert earn_entries_per_purchase(ids) == dict.fromkeys(ids, 1)
    assert ledger_drift() == []
    purchases = Purchase.objects.filter(pk__in=ids)
    for membership in Membership.objects.filter(purchases__in=ids).distinct():
        own = purchases.filter(membership=membership)
        assert own.aggregate(total=Sum("points_awarded"))["total"] == membership.balance
        assert all(p.points_awarded == p.points_expected > 0 for p in own)


def test_recorded_purchase_is_awarded_by_the_worker(workers, broker, enroll, record):
    """purchase_record (award_now False, as the partner API calls it) publishes the award
    after commit, and the worker awards it: one earn entry, balance updated, in seconds."""
    workers.start()
    membership = enroll()

    purchase = record(membership, "49.90")
    took = workers.wait_until(lambda: awarded([purchase.pk]) == 1, "the purchase awarded")

    assert took < 5, f"a single purchase took {took:.1f}s on an idle worker"
    assert_awarded_exactly_once([purchase.pk])
    membership.refresh_from_db()
    assert membership.balance == 49
    workers.assert_clean()


def test_purchase_recorded_while_the_broker_is_down_is_awarded_by_the_sweeper(
    workers, broker, enroll, record, caplog
):
    """With the broker unreachable, Celery's publish (after its retry policy, about a
    second) raises kombu's OperationalError inside on_commit. The purchase is committed by
    then, so the request must not fail: the enqueue logs and gives up, the purchase stays
    received, and once the broker is back the sweeper enqueues it and the worker awards it
    exactly once."""
    membership = enroll()
    caplog.set_level(logging.WARNING)

    with broker.outage():
        try:
            purchase = record(membership, "49.90")
        except BrokerUnreachable as exc:
            pytest.fail(
                "purchase_record raised although its purchase is committed, so the request "
                "fails while the sweeper would have awarded it: enqueue through "
                f"loyalty_site.core.commit.enqueue_after_commit ({exc})"
            )

    assert Purchase.objects.get(pk=purchase.pk).status == PurchaseStatus.RECEIVED
    assert any(entry.levelno >= logging.WARNING for entry in caplog.records)
    assert broker.queue_length() == 0

    workers.start()  # the broker is back
    assert sweep_received_purchases_task() == 0  # not yet: its own message may be on its way
    make_sweepable([purchase.pk])
    assert sweep_received_purchases_task() == 1
    workers.wait_until(lambda: awarded([purchase.pk]) == 1, "the swept purchase awarded")

    assert_awarded_exactly_once([purchase.pk])
    assert sweep_received_purchases_task() == 0
    workers.assert_clean()


def test_worker_killed_mid_batch_then_restarted_awards_every_purchase_once(
    workers, broker, enroll, record
):
    """300 purchases of 30 members, enqueued in batches of 30 (their own messages dropped,
    as the sweeper would find them after an outage). Once some batches are awarded, the
    whole worker (main process and pool) is SIGKILLed: the transaction of the batch in
    progress rolls back, and the batches it held stay unacknowledged in Redis (acks_late).
    reject_on_worker_lost cannot requeue them, since that needs the main process alive
    to see its pool child die; Redis hands them out again only after the visibility
    timeout (an hour). That is the designed behaviour: the sweeper is the recovery path.
    After a restart it enqueues whatever is still received, and every purchase ends up
    awarded exactly once. Then the held messages are redelivered, as Redis would after
    the hour, and award nothing twice."""
    members = [enroll() for _ in range(30)]
    with transaction.atomic():  # an import: one commit
        ids = [record(members[n % 30], f"{10 + n % 7}.50").pk for n in range(300)]
    broker.purge()
    for start in range(0, len(ids), 30):
        award_purchases_task.delay(ids[start : start + 30])

    first = workers.start()
    workers.wait_until(lambda: awarded(ids) > 0, "the first batch awarded", timeout=15)
    first.kill()

    done_before_kill = awarded(ids)
    assert 0 < done_before_kill < len(ids), "the worker was not killed mid-way"
    held = broker.unacked()
    assert held, f"the killed worker held no message\n{workers.logs()}"

    workers.start()
    make_sweepable(ids)
    assert sweep_received_purchases_task() > 0
    workers.wait_until(lambda: awarded(ids) == len(ids), "all 300 purchases awarded")
    assert_awarded_exactly_once(ids)
    workers.wait_until(
        lambda: broker.queue_length() == 0 and broker.unacked().keys() == held.keys(),
        "the restarted worker idle, only the killed worker's messages unacknowledged",
    )

    assert broker.redeliver_unacked() == len(held)
    workers.wait_until(
        lambda: broker.queue_length() == 0 and not broker.unacked(),
        "the redelivered messages consumed and acknowledged",
    )
    assert_awarded_exactly_once(ids)
    workers.assert_clean()


@pytest.mark.parametrize("size", [1, 40])
def test_same_award_message_delivered_five_times_at_once_awards_once(
    workers, broker, enroll, record, size
):
    """Five copies of one award message, taken two at a time by the worker's two
    processes: the memberships are locked and only purchases still received are awarded,
    so one run awards them all and the others award nothing."""
    members = [enroll() for _ in range(min(size, 8))]
    with transaction.atomic():
        ids = [record(members[n % len(members)], "25.00").pk for n in range(size)]
    broker.purge()  # their own messages: only the five copies below remain
    worker = workers.start()

    for _ in range(5):
        award_purchases_task.delay(ids)
    workers.wait_until(lambda: len(award_returns(worker)) == 5, "five award tasks finished")

    assert sorted(award_returns(worker)) == [0, 0, 0, 0, size]
    assert_awarded_exactly_once(ids)
    workers.assert_clean()


def test_task_enqueued_in_a_rolled_back_transaction_never_runs(workers, broker, enroll, record):
    """purchase_record inside a transaction that rolls back: no purchase, and no award
    task ever reaches the worker. A purchase recorded afterwards is the control: once the
    worker has awarded it, anything published before it would have been received too."""
    worker = workers.start()
    membership = enroll()

    rolled_back = in_rolled_back_transaction(lambda: record(membership, "49.90").pk)
    control = record(membership, "19.90")
    workers.wait_until(lambda: awarded([control.pk]) == 1, "the control purchase awarded")
    # the worker logs the task's result after its commit, a moment after the row changes
    workers.wait_until(lambda: award_returns(worker) == [1], "the award task's result logged")

    assert not Purchase.objects.filter(pk=rolled_back).exists()
    assert len(AWARD_RECEIVED.findall(worker.log())) == 1
    assert award_returns(worker) == [1]
    assert broker.queue_length() == 0
    workers.assert_clean()


def test_on_commit_publish_in_a_rolled_back_block_publishes_nothing(broker, enroll, record):
    """transaction.on_commit(partial(award_purchases_task.delay, ...)) in a block that
    rolls back publishes nothing; the same in a block that commits publishes one message
    (the control that the queue is really watched). No worker consumes the queue here."""
    purchase = record(enroll(), "49.90")
    broker.purge()  # the purchase's own message

    in_rolled_back_transaction(
        lambda: transaction.on_commit(partial(award_purchases_task.delay, [purchase.pk]))
    )
    assert broker.queue_length() == 0  # publishing is synchronous: nothing can be on its way

    with transaction.atomic():
        transaction.on_commit(partial(award_purchases_task.delay, [purchase.pk]))
        assert broker.queue_length() == 0  # not before the commit
    assert broker.queue_length() == 1
