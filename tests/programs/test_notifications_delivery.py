"""Delivery of notification e-mails: retries with backoff on SMTP failure, the sweeper,
opt-out at send time, the admin's resend; and the portal feed."""

import smtplib
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection
from django.template.loader import render_to_string
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from customers.preferences import customer_preferences_update
from programs.notifications.emails import FIRST_RETRY, MAX_ATTEMPTS, notification_email_send
from programs.notifications.models import EmailState, Notification, NotificationKind
from programs.notifications.selectors import notifications_recent, notifications_unread_count
from programs.notifications.services import notification_create, notifications_mark_read
from programs.notifications.tasks import sweep_notification_emails_task
from tests.factories import CustomerFactory, ProgramFactory, StaffFactory
from tests.programs import conftest as engine

program, tiers, membership = engine.program, engine.tiers, engine.membership


class FlakyBackend(EmailBackend):
    """The locmem backend behind a mail server that refuses the first ``failures`` sends."""

    failures = 0

    def send_messages(self, messages):
        if FlakyBackend.failures:
            FlakyBackend.failures -= 1
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        return super().send_messages(messages)


@pytest.fixture
def flaky_mail(settings):
    settings.EMAIL_BACKEND = f"{__name__}.FlakyBackend"
    FlakyBackend.failures = 0
    return FlakyBackend


def upgrade(customer, key="tier-change:1", membership=None):
    return notification_create(
        customer=customer,
        membership=membership,
        kind=NotificationKind.TIER_UPGRADE,
        cause_key=key,
        params={"program": "Kaffee & Kuchen", "tier": "Gold", "from_tier": "Silber"},
    )


def state(notification):
    notification.refresh_from_db()
    return notification.email_state


def test_smtp_failure_is_recorded_and_retried_with_backoff_then_sent(db, flaky_mail):
    flaky_mail.failures = 2
    note = upgrade(CustomerFactory())
    start = timezone.now()

    first = notification_email_send(note.pk, now=start)
    assert (first.state, first.retry_in) == (EmailState.PENDING, FIRST_RETRY)
    note.refresh_from_db()
    assert note.email_attempts == 1
    assert "SMTPServerDisconnected" in note.email_last_error
    assert mail.outbox == []
    # not due again before the backoff has passed
    assert notification_email_send(note.pk, now=start + timedelta(seconds=30)) is None

    second = notification_email_send(note.pk, now=start + timedelta(minutes=2))
    assert second.retry_in == 2 * FIRST_RETRY  # the delay doubles

    third = notification_email_send(note.pk, now=start + timedelta(minutes=5))
    assert third.state == EmailState.SENT
    note.refresh_from_db()
    assert (note.email_attempts, note.email_last_error) == (3, "")
    assert note.email_sent_at is not None
    assert [m.subject for m in mail.outbox] == ["Willkommen bei Gold!"]
    # sent is final: running the task again sends nothing
    assert notification_email_send(note.pk, now=start + timedelta(hours=5)) is None
    assert len(mail.outbox) == 1


def test_gives_up_after_the_last_attempt(db, flaky_mail):
    flaky_mail.failures = MAX_ATTEMPTS
    note = upgrade(CustomerFactory())
    moment = timezone.now()
    for _ in range(MAX_ATTEMPTS):
        moment += timedelta(hours=3)
        notification_email_send(note.pk, now=moment)
    assert state(note) == EmailState.FAILED
    assert mail.outbox == []


def test_sweeper_sends_what_the_failed_enqueue_left_behind(db, flaky_mail):
    flaky_mail.failures = 1
    note = upgrade(CustomerFactory())  # outside the capture: its enqueue never runs
    notification_email_send(note.pk)
    assert state(note) == EmailState.PENDING
    Notification.objects.filter(pk=note.pk).update(
        email_next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert sweep_notification_emails_task() == 1
    assert state(note) == EmailState.SENT
    assert len(mail.outbox) == 1


def test_opt_out_after_creation_is_respected_at_send_time(db):
    customer = CustomerFactory()
    note = upgrade(customer)
    customer_preferences_update(customer, email_tier_changes=False)
    assert notification_email_send(note.pk).state == EmailState.SKIPPED
    assert mail.outbox == []


def test_customer_without_address_gets_the_feed_entry_only(db):
    note = upgrade(CustomerFactory(email=""))
    assert note.email_state == EmailState.SKIPPED
    assert note.email_last_error == "no e-mail address"


def test_admin_lists_filters_and_resends(db, client, django_capture_on_commit_callbacks):
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        note = upgrade(customer)
    assert state(note) == EmailState.SENT
    client.force_login(StaffFactory())
    url = reverse("admin:notifications_notification_changelist")
    page = client.get(url, {"kind__exact": "tier_upgrade", "email_state__exact": "sent"})
    assert page.status_code == 200
    assert str(customer) in page.content.decode()
    assert (
        client.get(reverse("admin:notifications_notification_change", args=[note.pk])).status_code
        == 200
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url, {"action": "resend_email", "_selected_action": [note.pk]}, follow=True
        )
    assert response.status_code == 200
    assert len(mail.outbox) == 2
    assert state(note) == EmailState.SENT


def test_feed_is_scoped_newest_first_and_marks_read(program, membership):
    customer = membership.customer
    other_program = ProgramFactory()
    upgrade(customer, "tier-change:1", membership=membership)
    upgrade(customer, "tier-change:2", membership=membership)
    upgrade(CustomerFactory(), "tier-change:3")
    Notification.objects.filter(cause_key="tier-change:2").update(
        created_at=timezone.now() + timedelta(minutes=1)
    )
    feed = notifications_recent(customer)
    assert [n.cause_key for n in feed] == ["tier-change:2", "tier-change:1"]
    assert len(notifications_recent(customer, limit=1)) == 1
    assert notifications_recent(customer, program=other_program) == []
    assert len(notifications_recent(customer, program=program)) == 2

    other = Notification.objects.get(cause_key="tier-change:3")
    assert notifications_mark_read(customer, ids=[feed[0].pk, other.pk]) == 1
    other.refresh_from_db()
    assert other.read_at is None  # someone else's notification stays untouched
    assert notifications_unread_count(customer) == 1
    assert notifications_mark_read(customer) == 1
    assert notifications_unread_count(customer) == 0


@pytest.mark.parametrize(
    ("language", "heading", "title"),
    [
        ("de", "Benachrichtigungen", "Willkommen bei Gold!"),
        ("en", "Notifications", "Welcome to Gold!"),
    ],
)
def test_feed_partial_in_both_languages(db, language, heading, title):
    customer = CustomerFactory()
    upgrade(customer)
    with translation.override(language):
        html = render_to_string(
            "notifications/_feed.html", {"notifications": notifications_recent(customer)}
        )
        empty = render_to_string("notifications/_feed.html", {"notifications": []})
    assert heading in html
    assert title in html
    assert (
        "Noch keine Benachrichtigungen." if language == "de" else "No notifications yet."
    ) in empty


class CountingBackend(FlakyBackend):
    """FlakyBackend that counts the connections opened to the mail server."""

    opened = 0
    connection = None

    def open(self):
        if self.connection is None:
            self.connection = object()  # what the SMTP backend keeps while connected
            CountingBackend.opened += 1
            return True
        return False

    def close(self):
        self.connection = None


def test_a_chunk_of_emails_shares_one_mail_server_connection(db, settings):
    """A task's chunk of e-mails goes over one connection, not a handshake per e-mail;
    after a refused send the next e-mail opens a fresh one and the refused one is retried."""
    from programs.notifications.tasks import send_notification_emails_task

    settings.EMAIL_BACKEND = f"{__name__}.CountingBackend"
    CountingBackend.opened, FlakyBackend.failures = 0, 0
    notes = [upgrade(CustomerFactory(), key=f"tier-change:{n}") for n in range(5)]

    assert send_notification_emails_task.run([n.pk for n in notes]) == 5

    assert CountingBackend.opened == 1
    assert len(mail.outbox) == 5
    more = [upgrade(CustomerFactory(), key=f"tier-change:x{n}") for n in range(3)]
    CountingBackend.opened, FlakyBackend.failures = 0, 1

    assert send_notification_emails_task.run([n.pk for n in more]) == 2

    assert CountingBackend.opened == 2  # the refused send dropped the connection
    assert [state(n) for n in more] == [EmailState.PENDING, EmailState.SENT, EmailState.SENT]


@pytest.mark.django_db(transaction=True)
def test_email_bookkeeping_skips_the_disk_flush_and_nothing_else_does(settings):
    """Each e-mail's outcome commits without waiting for the WAL flush (a burst of tier
    e-mails kept the worker in WALSync): SET LOCAL sent in one query with the outcome's
    UPDATE, one implicit transaction, so nothing else on the connection (the next award)
    commits that way. The chunk's lease is one ordinary transaction."""
    from programs.notifications.tasks import send_notification_emails_task

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    notes = [upgrade(CustomerFactory(), key=f"tier-change:d{n}") for n in range(3)]
    # the eager test worker sent them at the commit: due again, as a sweeper finds them
    Notification.objects.update(
        email_state=EmailState.PENDING, email_attempts=0, email_next_attempt_at=timezone.now()
    )
    seen = []

    def probe(execute, sql, params, many, context):
        if 'UPDATE "customers_notification"' in sql:
            quick = sql.startswith("SET LOCAL synchronous_commit = off; UPDATE")
            seen.append(("in a transaction" if connection.in_atomic_block else "alone", quick))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(probe):
        assert send_notification_emails_task.run([n.pk for n in notes]) == 3

    assert seen == [("in a transaction", False)] + [("alone", True)] * 3
    assert [state(n) for n in notes] == [EmailState.SENT] * 3
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


class CutShort(EmailBackend):
    """The locmem backend of a worker whose time runs out at the second e-mail."""

    def send_messages(self, messages):
        if len(mail.outbox) == 1:
            raise SoftTimeLimitExceeded
        return super().send_messages(messages)


def test_a_chunk_cut_short_gives_back_the_emails_it_did_not_send(db, settings):
    from programs.notifications.emails import notification_emails_send

    settings.EMAIL_BACKEND = f"{__name__}.CutShort"
    notes = [upgrade(CustomerFactory(), key=f"tier-change:s{n}") for n in range(3)]

    with pytest.raises(SoftTimeLimitExceeded):
        notification_emails_send([n.pk for n in notes])

    assert len(mail.outbox) == 1
    for note in notes:
        note.refresh_from_db()
    assert (notes[0].email_state, notes[0].email_attempts) == (EmailState.SENT, 1)
    for note in notes[1:]:  # due again at once, no attempt counted
        assert (note.email_state, note.email_attempts) == (EmailState.PENDING, 0)
        assert note.email_next_attempt_at <= timezone.now()


def test_an_email_that_cannot_be_built_does_not_hold_up_the_others(db, settings):
    from programs.notifications.emails import notification_emails_send

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    notes = [upgrade(CustomerFactory(), key=f"tier-change:b{n}") for n in range(3)]
    # an address with a line break: the message cannot be built (a header injection)
    type(notes[0].customer).objects.filter(pk=notes[0].customer_id).update(
        email="a@example.org\nBcc: b@example.org"
    )

    outcomes = dict(notification_emails_send([n.pk for n in notes]))

    assert outcomes[notes[0].pk].state == EmailState.PENDING
    assert outcomes[notes[0].pk].retry_in == FIRST_RETRY
    assert [outcomes[n.pk].state for n in notes[1:]] == [EmailState.SENT] * 2
    assert len(mail.outbox) == 2
    notes[0].refresh_from_db()
    assert notes[0].email_attempts == 1
    assert "BadHeaderError" in notes[0].email_last_error


def test_a_chunk_costs_a_few_queries_and_one_per_email(db, settings):
    """Claimed, loaded and checked against the preferences together; one outcome write
    per e-mail (so a crash mid-chunk re-sends at most the e-mail in flight)."""
    from programs.notifications.emails import notification_emails_send

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    notes = [upgrade(CustomerFactory(), key=f"tier-change:q{n}") for n in range(12)]
    customer_preferences_update(notes[0].customer, email_tier_changes=False)

    with CaptureQueriesContext(connection) as captured:
        outcomes = notification_emails_send([n.pk for n in notes])

    statements = [q["sql"] for q in captured if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    # the lease (select, update), notifications with their customers, the customers
    # without an address, the preferences;
    # then per e-mail its outcome and the commit setting of its own transaction
    assert len(statements) <= 5 + 2 * 12
    assert sum(sql.startswith('UPDATE "customers_notification"') for sql in statements) == 13
    assert [o.state for _pk, o in outcomes] == [EmailState.SKIPPED] + [EmailState.SENT] * 11
    assert len(mail.outbox) == 11


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_the_same_chunk_send_each_email_once(settings):
    """The sweeper and a task (or two copies of a message) may hold the same ids: each
    e-mail is claimed by one of them and sent once."""
    from programs.notifications.emails import notification_emails_send
    from tests.programs.test_concurrency import no_errors, results_of, run_concurrently

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    notes = [upgrade(CustomerFactory(), key=f"tier-change:c{n}") for n in range(30)]
    ids = [n.pk for n in notes]
    # the eager test worker sent them at the commit: due again, as a sweeper finds them
    Notification.objects.filter(pk__in=ids).update(
        email_state=EmailState.PENDING, email_attempts=0, email_next_attempt_at=timezone.now()
    )
    mail.outbox.clear()

    outcomes = run_concurrently(3, lambda i: notification_emails_send(ids))

    no_errors(outcomes)
    sent = [pk for result in results_of(outcomes) for pk, _outcome in result]
    assert sorted(sent) == sorted(ids)
    assert len(mail.outbox) == 30
    assert {state(n) for n in notes} == {EmailState.SENT}
