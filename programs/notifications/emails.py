"""Sending the notification e-mails, in the worker and outside any transaction.

A task's chunk of e-mails is claimed together (a lease), sent over one mail-server
connection, each outcome recorded as it happens; SMTP and network errors are retried with
exponential backoff and given up after ``MAX_ATTEMPTS``. ``notification_emails_due`` feeds
the sweeper, which re-enqueues e-mails whose enqueue was lost or whose retry is due; staff
can queue an e-mail again (``notifications_email_resend``).
"""

import contextlib
import logging
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import DatabaseError, transaction
from django.db import connection as db
from django.db.models import F
from django.utils import timezone

from programs.notifications.models import EmailState, Notification
from programs.notifications.services import _email_skips
from programs.notifications.texts import notification_email_render

logger = logging.getLogger("programs.notifications")

LEASE = timedelta(minutes=10)  # a claimed chunk of e-mails, slow mail server included
MAX_ATTEMPTS = 8  # 1 min doubling to a 2 h cap: the last try about 4 hours after the first
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=2)
SEND_ERRORS = (smtplib.SMTPException, OSError)


@dataclass(frozen=True)
class SendOutcome:
    state: str
    retry_in: timedelta | None = None


def _close_quietly(connection) -> None:
    with contextlib.suppress(*SEND_ERRORS):
        connection.close()


def notification_emails_send(
    notification_ids: Iterable[int], now: datetime | None = None
) -> list[tuple[int, SendOutcome]]:
    """Send the e-mails of these notifications that are due, in their order: claimed
    together (a lease), loaded with their customers and checked against the preferences
    in a few queries, sent over one mail server connection (opened at the first e-mail,
    re-opened after a failure) rather than a connection and TLS handshake per e-mail,
    each outcome recorded as it happens without waiting for the disk (``_record``).
    Ids not due (already sent or skipped, retry not yet due, leased by another worker)
    are left out. Returns the outcome of each e-mail sent or tried."""
    connection = get_connection()
    try:
        return _send_due(list(notification_ids), now or timezone.now(), connection)
    finally:
        _close_quietly(connection)


def notification_email_send(
    notification_id: int, now: datetime | None = None, connection=None
) -> SendOutcome | None:
    """``notification_emails_send`` for one notification: its new state and, after a
    failure that will be retried, the delay until the retry; None when it was not due.
    ``connection``: an e-mail backend connection to reuse (opened here if needed, closed
    after a failure, so the next e-mail starts afresh)."""
    sent = _send_due([notification_id], now or timezone.now(), connection)
    return sent[0][1] if sent else None


def _retry_delay(attempts: int) -> timedelta:
    return min(FIRST_RETRY * 2 ** max(0, attempts - 1), MAX_RETRY)


def _claim(ids: list[int], now: datetime) -> list[int]:
    """Lease the due ones of ``ids`` for ``LEASE``; rows another worker holds are skipped,
    and once leased they are no longer due for anyone. The attempt is counted when the
    e-mail is tried (``_record``), not here: a chunk cut short costs the e-mails it did not
    reach nothing (``_send_due`` gives them back)."""
    with transaction.atomic():
        claimed = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(pk__any=ids, email_state=EmailState.PENDING, email_next_attempt_at__lte=now)
            .values_list("pk", flat=True)
        )
        if claimed:
            Notification.objects.filter(pk__any=claimed).update(email_next_attempt_at=now + LEASE)
    return claimed


def _send_due(ids: list[int], now: datetime, connection) -> list[tuple[int, SendOutcome]]:
    claimed = set(_claim(ids, now))
    if not claimed:
        return []
    notifications = Notification.objects.select_related("customer").in_bulk(list(claimed))
    skips = _email_skips([(n.customer_id, n.kind) for n in notifications.values()])
    order = [pk for pk in dict.fromkeys(ids) if pk in notifications]  # as asked, once each
    outcomes = []
    try:
        for pk in order:
            notification = notifications[pk]
            skip = skips[notification.customer_id, notification.kind]
            outcomes.append((pk, _deliver(notification, skip, connection)))
    finally:
        # Cut short (the database gone, the worker's time limit): the e-mails not reached
        # are due again at once rather than when their lease runs out.
        left = order[len(outcomes) :]
        if left:
            with contextlib.suppress(DatabaseError):
                Notification.objects.filter(pk__any=left, email_state=EmailState.PENDING).update(
                    email_next_attempt_at=now
                )
    return outcomes


def _record(notification: Notification, **values) -> None:
    """Write one e-mail's outcome and count its attempt, in a transaction of its own that
    commits without waiting for the WAL flush: a burst of e-mails otherwise keeps the
    worker waiting on the disk while awards queue behind it. A database crash can lose the
    last fraction of a second of outcomes, after which an e-mail may be sent again, as a
    crash between sending and recording does anyway. ``SET LOCAL`` ends with this
    transaction (durable: never nested in another), so nothing else commits this way."""
    with transaction.atomic(durable=True), db.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        Notification.objects.filter(pk=notification.pk).update(
            email_attempts=F("email_attempts") + 1, **values
        )


def _deliver(notification: Notification, skip: str, connection) -> SendOutcome:
    """Send one claimed notification's e-mail (unless ``skip`` says why not) and record
    the outcome. A failure to send, or to build the message, is this e-mail's alone: it is
    retried with backoff and, after ``MAX_ATTEMPTS``, given up; the chunk goes on."""
    if skip:  # the customer opted out (or lost the address) after the notification was made
        _record(
            notification,
            email_state=EmailState.SKIPPED,
            email_last_error=skip,
            email_next_attempt_at=None,
        )
        return SendOutcome(EmailState.SKIPPED)
    try:
        rendered = notification_email_render(notification)
        message = EmailMultiAlternatives(
            subject=rendered.subject,
            body=rendered.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[notification.customer.email],
            headers={"X-Loyalty-Notification": notification.cause_key},
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
        return _failed(notification, exc)
    _record(
        notification,
        email_state=EmailState.SENT,
        email_sent_at=timezone.now(),
        email_last_error="",
        email_next_attempt_at=None,
    )
    return SendOutcome(EmailState.SENT)


def _failed(notification: Notification, exc: Exception) -> SendOutcome:
    error = f"{type(exc).__name__}: {exc}"[:500]
    attempts = notification.email_attempts + 1
    if not isinstance(exc, SEND_ERRORS):
        logger.exception("notification %s: could not build or send the e-mail", notification.pk)
    if attempts >= MAX_ATTEMPTS:
        _record(
            notification,
            email_state=EmailState.FAILED,
            email_last_error=error,
            email_next_attempt_at=None,
        )
        logger.error("notification %s: e-mail failed for good: %s", notification.pk, error)
        return SendOutcome(EmailState.FAILED)
    delay = _retry_delay(attempts)
    _record(notification, email_last_error=error, email_next_attempt_at=timezone.now() + delay)
    logger.warning(
        "notification %s: e-mail attempt %d failed, retry in %s: %s",
        notification.pk,
        attempts,
        delay,
        error,
    )
    return SendOutcome(EmailState.PENDING, retry_in=delay)


def notification_emails_due(now: datetime | None = None, limit: int = 5000) -> list[int]:
    now = now or timezone.now()
    return list(
        Notification.objects.filter(email_state=EmailState.PENDING, email_next_attempt_at__lte=now)
        .order_by("email_next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
