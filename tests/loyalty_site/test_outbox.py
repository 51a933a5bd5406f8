"""The delivery outbox on real PostgreSQL rows: claim with a lease (a crashed worker's rows
come back), attempts, exponential backoff with a cap, give-up with the reason, the due
query, staff resend, and two workers on the same ids sending each row once.

The rows are notifications (any model with the columns will do); the sending code is a
stand-in for a channel's, which is not what is tested here."""

import dataclasses
import threading
import time
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty_site.core.outbox import Attempt, Outbox, column_names
from programs.notifications.models import EmailState, Notification, NotificationKind
from tests.factories import CustomerFactory
from tests.programs.test_concurrency import no_errors, results_of, run_concurrently

OUTBOX = Outbox(
    name="test e-mail",
    model=Notification,
    **column_names("email_"),
    done=EmailState.SENT,
    failed=EmailState.FAILED,
    lease=timedelta(minutes=10),
    first_retry=timedelta(minutes=1),
    max_retry=timedelta(minutes=5),
    max_attempts=4,
)
NOW = timezone.now()


def rows(count: int, at=NOW) -> list[int]:
    customer = CustomerFactory()
    return [
        Notification.objects.create(
            customer=customer,
            kind=NotificationKind.TIER_UPGRADE,
            cause_key=f"outbox-test:{customer.pk}:{n}",
            created_at=at,
            email_next_attempt_at=at,
        ).pk
        for n in range(count)
    ]


def row(pk: int) -> Notification:
    return Notification.objects.get(pk=pk)


def delivered(sent: list) -> object:
    def attempt(notification):
        sent.append(notification.pk)
        return Attempt(values={"email_sent_at": NOW})

    return attempt


def failing(error="SMTPServerDisconnected: gone"):
    return lambda notification: Attempt(error=error)


@pytest.mark.django_db
def test_a_claim_leases_the_due_rows_and_counts_their_attempt():
    due, later = rows(2), rows(1, at=NOW + timedelta(minutes=5))
    assert sorted(OUTBOX.claim([*due, *later], NOW)) == sorted(due)
    assert OUTBOX.claim(due, NOW) == []  # leased: due for no one else
    assert OUTBOX.due(NOW) == []
    assert [row(pk).email_attempts for pk in due] == [1, 1]
    # a worker that crashed with the rows: they are due again once the lease runs out
    after_lease = NOW + OUTBOX.lease + timedelta(seconds=1)
    assert sorted(OUTBOX.due(after_lease)) == sorted([*due, *later])
    assert sorted(OUTBOX.claim(due, after_lease)) == sorted(due)
    assert [row(pk).email_attempts for pk in due] == [2, 2]


def test_backoff_doubles_up_to_the_cap():
    delays = [OUTBOX.retry_delay(n) for n in range(1, 6)]
    assert delays == [timedelta(minutes=m) for m in (1, 2, 4, 5, 5)]


@pytest.mark.django_db
def test_failures_are_retried_with_backoff_then_given_up_with_the_reason():
    [pk] = rows(1)
    at, waits = NOW, []
    for _ in range(OUTBOX.max_attempts - 1):
        [(_pk, outcome)] = OUTBOX.send([pk], failing(), now=at)
        assert outcome.state == EmailState.PENDING
        assert OUTBOX.send([pk], failing(), now=at) == []  # not due before the backoff
        waits.append(outcome.retry_in)
        assert row(pk).email_next_attempt_at == at + outcome.retry_in
        at += outcome.retry_in
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4)]

    [(_pk, outcome)] = OUTBOX.send([pk], failing("SMTPRecipientsRefused: no such user"), now=at)

    assert (outcome.state, outcome.retry_in) == (EmailState.FAILED, None)
    gone = row(pk)
    assert (gone.email_state, gone.email_attempts) == (EmailState.FAILED, OUTBOX.max_attempts)
    assert gone.email_last_error == "SMTPRecipientsRefused: no such user"
    assert gone.email_next_attempt_at is None
    assert OUTBOX.due(at + timedelta(days=1)) == []  # the sweeper leaves it alone


@pytest.mark.django_db
def test_success_records_the_channel_values_and_is_final():
    [pk] = rows(1)
    sent = []
    [(_pk, outcome)] = OUTBOX.send([pk], delivered(sent), now=NOW)
    assert outcome.state == EmailState.SENT
    done = row(pk)
    assert (done.email_state, done.email_attempts, done.email_last_error) == ("sent", 1, "")
    assert done.email_sent_at == NOW
    assert done.email_next_attempt_at is None
    assert OUTBOX.send([pk], delivered(sent), now=NOW + timedelta(days=1)) == []
    assert sent == [pk]


@pytest.mark.django_db
def test_a_failure_not_worth_retrying_and_a_state_of_the_channel_are_final():
    gone, skipped = rows(2)
    outcomes = dict(
        OUTBOX.send([gone], lambda n: Attempt(error="receiver gone", retry=False), now=NOW)
        + OUTBOX.send([skipped], lambda n: Attempt(error="opted out", state="skipped"), now=NOW)
    )
    assert (outcomes[gone].state, outcomes[skipped].state) == (EmailState.FAILED, "skipped")
    assert row(gone).email_attempts == 1
    assert row(skipped).email_last_error == "opted out"


@pytest.mark.django_db
def test_a_row_whose_attempt_raises_is_given_up_and_the_rest_go_out():
    ids = rows(3)
    sent = []

    def attempt(notification):
        if notification.pk == ids[1]:
            raise ValueError("cannot build this message\nsecond line")
        return delivered(sent)(notification)

    outcomes = OUTBOX.send(ids, attempt, now=NOW)

    assert [o.state for _pk, o in outcomes] == ["sent", "failed", "sent"]
    assert sent == [ids[0], ids[2]]
    assert row(ids[1]).email_last_error == "ValueError: cannot build this message"


@pytest.mark.django_db
def test_a_chunk_cut_short_gives_back_what_it_did_not_reach():
    ids = rows(3)
    sent = []

    def attempt(notification):
        if sent:
            raise SoftTimeLimitExceeded
        return delivered(sent)(notification)

    with pytest.raises(SoftTimeLimitExceeded):
        OUTBOX.send(ids, attempt, now=NOW)

    assert (row(ids[0]).email_state, row(ids[0]).email_attempts) == ("sent", 1)
    for pk in ids[1:]:  # due again at once, the attempt not counted
        left = row(pk)
        assert (left.email_state, left.email_attempts) == ("pending", 0)
        assert left.email_next_attempt_at == NOW
    assert OUTBOX.due(NOW) == ids[1:]


@pytest.mark.django_db
def test_due_lists_the_longest_waiting_first_and_respects_the_condition():
    old, new = rows(1, at=NOW - timedelta(hours=1)), rows(1, at=NOW - timedelta(minutes=1))
    future = rows(1, at=NOW + timedelta(minutes=1))
    OUTBOX.send(rows(1), delivered([]), now=NOW)
    assert OUTBOX.due(NOW) == [*old, *new]
    assert OUTBOX.due(NOW, limit=1) == old
    assert OUTBOX.due(NOW + timedelta(minutes=2)) == [*old, *new, *future]
    only_new = dataclasses.replace(OUTBOX, condition=lambda now: Q(pk__in=new))
    assert only_new.due(NOW) == new
    assert only_new.claim([*old, *new], NOW) == new


@pytest.mark.django_db
def test_staff_resend_queues_a_row_again_with_fresh_attempts():
    [pk] = rows(1)
    Notification.objects.filter(pk=pk).update(
        email_state=EmailState.FAILED, email_attempts=4, email_last_error="x"
    )
    assert OUTBOX.resend([pk]) == 1
    again = row(pk)
    assert (again.email_state, again.email_attempts, again.email_last_error) == ("pending", 0, "")
    assert OUTBOX.due() == [pk]


@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_the_same_ids_deliver_each_row_once():
    ids = rows(40)
    sent, lock = [], threading.Lock()

    def attempt(notification):
        time.sleep(0.005)  # the two workers overlap while sending
        with lock:
            sent.append(notification.pk)
        return Attempt()

    def worker(i: int) -> list:
        """Chunks of five, one worker from each end, so their claims meet in the middle."""
        order = ids if i else ids[::-1]
        return [
            sent
            for start in range(0, 40, 5)
            for sent in OUTBOX.send(order[start : start + 5], attempt)
        ]

    outcomes = run_concurrently(2, worker)

    no_errors(outcomes)
    attempted = [pk for result in results_of(outcomes) for pk, _outcome in result]
    assert sorted(sent) == sorted(attempted) == sorted(ids)
    states = Notification.objects.filter(pk__in=ids).values_list("email_state", "email_attempts")
    assert set(states) == {(EmailState.SENT, 1)}
    with connection.cursor() as cursor:  # the outcomes' commit setting ended with them
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


@pytest.mark.django_db(transaction=True)
def test_an_outcome_outside_a_transaction_is_one_statement_without_waiting_for_the_disk():
    """As a worker records it: one round trip that commits asynchronously, after which the
    connection commits as before. Values go through their fields (JSON, as a webhook's log)."""
    [pk] = rows(1)
    sent_at = timezone.now()
    log = {"at": sent_at.isoformat(), "status": 200, "error": None}
    values = {"email_state": EmailState.SENT, "email_sent_at": sent_at, "params": log}
    with CaptureQueriesContext(connection) as queries:
        OUTBOX.write(pk, values)
    [query] = queries.captured_queries
    assert query["sql"].startswith("SET LOCAL synchronous_commit = off; UPDATE")
    row = Notification.objects.get(pk=pk)
    assert (row.email_state, row.email_sent_at, row.params) == (EmailState.SENT, sent_at, log)
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
