"""Sending the notification e-mails, in the worker and outside any transaction.

Notifications are an outbox (``loyalty_site.core.outbox``): a task's chunk of e-mails
is claimed together (a lease), sent over one mail-server connection, each outcome
recorded as it happens; SMTP and network errors are retried with exponential backoff and
given up after ``MAX_ATTEMPTS``. ``notification_emails_due`` feeds the sweeper, which
re-enqueues e-mails whose enqueue was lost or whose retry is due; staff can queue an
e-mail again (``notifications_email_resend``).
"""

import contextlib
import logging
import smtplib
from collections.abc import Iterable
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import DatabaseError, transaction
from django.utils import timezone

from loyalty_site.core.outbox import Attempt, Outbox, Outcome, column_names
from programs.notifications.models import EmailState, Notification
from programs.notifications.services import _email_skips, _enqueue_emails
from programs.notifications.texts import notification_email_links, notification_email_render

logger = logging.getLogger("programs.notifications")

MAX_ATTEMPTS = 8  # 1 min doubling to a 2 h cap: the last try about 4 hours after the first
FIRST_RETRY = timedelta(minutes=1)
EMAILS = Outbox(
    name="notification e-mail",
    model=Notification,
    **column_names("email_"),
    done=EmailState.SENT,
    failed=EmailState.FAILED,
    lease=timedelta(minutes=10),  # a claimed chunk of e-mails, slow mail server included
    first_retry=FIRST_RETRY,
    max_attempts=MAX_ATTEMPTS,
)
SEND_ERRORS = (smtplib.SMTPException, OSError)


def _close_quietly(connection) -> None:
    with contextlib.suppress(*SEND_ERRORS):
        connection.close()


def notification_emails_send(
    notification_ids: Iterable[int], now: datetime | None = None
) -> list[tuple[int, Outcome]]:
    """Send the e-mails of these notifications that are due, in their order: claimed
    together (a lease), loaded with their customers and checked against the preferences
    in a few queries, sent over one mail server connection (opened at the first e-mail,
    re-opened after a failure) rather than a connection and TLS handshake per e-mail,
    each outcome recorded as it happens. Ids not due (already sent or skipped, retry not
    yet due, leased by another worker) are left out. Returns the outcome of each e-mail
    sent or tried."""
    connection = get_connection()
    try:
        return _send_due(notification_ids, now, connection)
    finally:
        _close_quietly(connection)


def notification_email_send(
    notification_id: int, now: datetime | None = None, connection=None
) -> Outcome | None:
    """``notification_emails_send`` for one notification: its new state and, after a
    failure that will be retried, the delay until the retry; None when it was not due.
    ``connection``: an e-mail backend connection to reuse (opened here if needed, closed
    after a failure, so the next e-mail starts afresh)."""
    sent = _send_due([notification_id], now, connection)
    return sent[0][1] if sent else None


def _send_due(ids: Iterable[int], now: datetime | None, connection) -> list[tuple[int, Outcome]]:
    skips: dict[tuple[int, str], str] = {}

    def load(claimed: list[int]) -> dict[int, Notification]:
        notifications = Notification.objects.select_related(
            "customer", "membership__program"
        ).in_bulk(claimed)
        skips.update(_email_skips([(n.customer_id, n.kind) for n in notifications.values()]))
        return notifications

    def attempt(notification: Notification) -> Attempt:
        return _deliver(
            notification, skips[notification.customer_id, notification.kind], connection
        )

    return EMAILS.send(ids, attempt, now=now, load=load)


def _deliver(notification: Notification, skip: str, connection) -> Attempt:
    """Send one claimed notification's e-mail, unless ``skip`` says why not. A failure to
    send, or to build the message, is this e-mail's alone: it is retried with backoff
    and, after ``MAX_ATTEMPTS``, given up; the chunk goes on."""
    if skip:  # the customer opted out (or lost the address) after the notification was made
        return Attempt(error=skip, state=EmailState.SKIPPED)
    try:
        links = notification_email_links(notification)
        rendered = notification_email_render(notification, links)
        message = EmailMultiAlternatives(
            subject=rendered.subject,
            body=rendered.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[notification.customer.email],
            headers={"X-Loyalty-Notification": notification.cause_key, **links.headers},
        )
        message.attach_alternative(rendered.html, "text/html")
        if connection is not None:
            connection.open()  # no-op while open; keeps it open across send_messages
            message.connection = connection
        message.send(fail_silently=False)
    except (DatabaseError, SoftTimeLimitExceeded):
        raise  # not this e-mail's fault: the task stops (and is retried)
    except Exception as exc:  # SMTP, network, or this message itself (a bad address)
        if connection is not None:
            _close_quietly(connection)
        if not isinstance(exc, SEND_ERRORS):
            logger.exception("notification %s: could not build or send the e-mail", notification.pk)
        return Attempt(error=f"{type(exc).__name__}: {exc}")
    return Attempt(values={"email_sent_at": timezone.now()})


def notification_emails_due(now: datetime | None = None, limit: int = 5000) -> list[int]:
    return EMAILS.due(now, limit)


@transaction.atomic
def notifications_email_resend(notification_ids: Iterable[int]) -> int:
    """Staff send these e-mails again (after a mail server fix), whatever their state;
    preferences still apply when the worker sends. Returns how many were queued."""
    ids = list(notification_ids)
    count = EMAILS.resend(ids)
    if count:
        _enqueue_emails(ids)
    return count
