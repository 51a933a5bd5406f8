"""Notifications: created with the change that causes them, e-mailed after the commit.

* ``notifications_for_event`` is called by ``programs.services.events.event_record``
  inside the service's transaction. Tier upgrades and downgrades, redeemed rewards and
  referral rewards become notifications at once; earned points only schedule a check,
  after the commit, whether the next tier is now within reach (no notice per purchase).
* ``points_expiry_warn`` (daily job) warns of points expiring within ``EXPIRY_WARNING_DAYS``,
  set-based: one aggregate query, one bulk insert.
* Each notification has a unique ``cause_key``: a cause notifies at most once, however
  often it is replayed, and concurrent writers cannot both insert it.
* The feed entry is always written; the e-mail is skipped (and recorded so) when the
  customer switched that topic off or has no address. Otherwise it is sent by
  ``notification_emails_send`` in the worker, outside any transaction, a task's chunk
  claimed together (a lease), retried with exponential backoff on SMTP and network
  errors, and its outcome recorded. ``notification_emails_due`` feeds the sweeper, which
  re-enqueues e-mails whose enqueue was lost or whose retry is due.
"""

import contextlib
import logging
import smtplib
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import DatabaseError, transaction
from django.db import connection as db
from django.db.models import BooleanField, F, Q, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncDate
from django.utils import timezone

from customers.models import Customer
from customers.preferences import customers_without_email
from loyalty_site.core.commit import enqueue_after_commit
from programs.notifications.models import EmailState, Notification, NotificationKind
from programs.notifications.texts import notification_email_render

# The switch that decides the e-mail of each kind of notification.
EMAIL_SWITCH = {
    NotificationKind.TIER_UPGRADE: "email_tier_changes",
    NotificationKind.TIER_DOWNGRADE: "email_tier_changes",
    NotificationKind.TIER_APPROACHING: "email_tier_progress",
    NotificationKind.POINTS_EXPIRING: "email_points_expiry",
    NotificationKind.REWARD_REDEEMED: "email_rewards",
    NotificationKind.REFERRAL_REWARDED: "email_referrals",
}


logger = logging.getLogger("programs.notifications")

EXPIRY_WARNING_DAYS = 30
LEASE = timedelta(minutes=10)  # a claimed chunk of e-mails, slow mail server included
MAX_ATTEMPTS = 8  # 1 min doubling to a 2 h cap: the last try about 4 hours after the first
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=2)
SEND_ERRORS = (smtplib.SMTPException, OSError)
NO_ADDRESS = "no e-mail address"
ZERO = Decimal(0)
OPTED_OUT = "switched off in the customer's preferences"


# --- creating -------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationSpec:
    """One notification to write: for whom, of what kind, for which cause."""

    customer_id: int
    kind: str
    cause_key: str
    params: dict
    membership_id: int | None = None


def notification_create(
    *,
    customer: Customer,
    kind: str,
    cause_key: str,
    params: dict,
    membership=None,
    at: datetime | None = None,
) -> Notification:
    """Write the notification for ``cause_key`` unless it exists; enqueue its e-mail after
    the commit. Call inside the transaction of the cause. Returns the notification."""
    spec = NotificationSpec(
        customer_id=customer.pk,
        kind=kind,
        cause_key=cause_key,
        params=params,
        membership_id=membership.pk if membership is not None else None,
    )
    notifications_create_many([spec], at=at)
    return Notification.objects.get(cause_key=cause_key)


def notifications_create_many(specs: Sequence[NotificationSpec], at: datetime | None = None) -> int:
    """``notification_create`` for many causes, in a number of queries that does not grow
    with them: causes already notified are left alone; the e-mail is skipped (and recorded
    so) for customers without an address or who switched the topic off. Returns how many
    notifications were written."""
    existing = set(
        Notification.objects.filter(cause_key__any=[s.cause_key for s in specs]).values_list(
            "cause_key", flat=True
        )
    )
    specs = [spec for spec in specs if spec.cause_key not in existing]
    if not specs:
        return 0
    at = at or timezone.now()
    skips = _email_skips([(spec.customer_id, spec.kind) for spec in specs])
    notifications = []
    for spec in specs:
        skip = skips[spec.customer_id, spec.kind]
        notifications.append(
            Notification(
                customer_id=spec.customer_id,
                membership_id=spec.membership_id,
                kind=spec.kind,
                cause_key=spec.cause_key,
                params=spec.params,
                created_at=at,
                email_state=EmailState.SKIPPED if skip else EmailState.PENDING,
                email_last_error=skip,
                email_next_attempt_at=None if skip else timezone.now(),
            )
        )
    return _insert(notifications)


def _email_skips(wanted: Sequence[tuple[int, str]]) -> dict[tuple[int, str], str]:
    """Why the e-mail of each ``(customer id, kind)`` is not to be sent ("" when it is): no
    address (none, or erased) or switched off in the preferences. Two queries and one per
    kind, whatever the number of pairs."""
    customer_ids = {customer_id for customer_id, _kind in wanted}
    no_address = set(
        Customer.objects.filter(pk__any=customer_ids)
        .filter(Q(email="") | Q(anonymized_at__isnull=False))
        .values_list("pk", flat=True)
    )
    kinds = {kind for _id, kind in wanted}
    opted_out = {kind: customers_without_email(customer_ids, EMAIL_SWITCH[kind]) for kind in kinds}
    return {
        (customer_id, kind): NO_ADDRESS
        if customer_id in no_address
        else OPTED_OUT
        if customer_id in opted_out[kind]
        else ""
        for customer_id, kind in wanted
    }


def _insert(notifications: list[Notification]) -> int:
    """Insert, quietly leaving out causes a concurrent writer inserted first; enqueue the
    new e-mails after the commit. Returns how many rows were written."""
    keys = [n.cause_key for n in notifications]
    with transaction.atomic():
        before = Notification.objects.filter(cause_key__in=keys).count()
        Notification.objects.bulk_create(notifications, ignore_conflicts=True, batch_size=1000)
        written = Notification.objects.filter(cause_key__in=keys).count() - before
        pending = list(
            Notification.objects.filter(
                cause_key__in=keys, email_state=EmailState.PENDING, email_attempts=0
            ).values_list("pk", flat=True)
        )
        for start in range(0, len(pending), EMAIL_CHUNK):
            _enqueue_emails(pending[start : start + EMAIL_CHUNK])
    return written


def _enqueue_emails(ids: Sequence[int]) -> None:
    from programs.notifications.tasks import send_notification_emails_task

    # a broker outage must not fail the change; the sweeper sends it later.
    enqueue_after_commit(send_notification_emails_task, list(ids))


def _tier_names(membership, data: dict) -> dict:
    return {
        "program": membership.program.name,
        "tier": data.get("to_tier"),
        "from_tier": data.get("from_tier"),
    }


def _spec_for_event(type: str, membership, data: dict) -> NotificationSpec | None:
    """The notification a domain event causes, if any (earned points cause none directly)."""
    from programs.services import events

    def spec(kind: str, cause_key: str, params: dict) -> NotificationSpec:
        return NotificationSpec(
            customer_id=membership.customer_id,
            membership_id=membership.pk,
            kind=kind,
            cause_key=cause_key,
            params=params,
        )

    if type == events.TIER_CHANGED:
        if data.get("reason") == "enrolled":
            return None
        up = data.get("direction") == "up"
        return spec(
            NotificationKind.TIER_UPGRADE if up else NotificationKind.TIER_DOWNGRADE,
            f"tier-change:{data['change_id']}",
            _tier_names(membership, data),
        )
    if type == events.REWARD_REDEEMED:
        return spec(
            NotificationKind.REWARD_REDEEMED,
            f"redemption:{data['redemption_id']}",
            {
                "program": membership.program.name,
                "reward": data["reward"],
                "points": data["points"],
                "voucher_code": data["voucher_code"],
            },
        )
    if type == events.REFERRAL_REWARDED:
        return spec(
            NotificationKind.REFERRAL_REWARDED,
            f"referral:{data['referral_id']}:rewarded",
            {"program": membership.program.name, "points": data["points"]},
        )
    return None


def notifications_for_event(*, type: str, membership, data: dict, at=None) -> None:
    """Turn a domain event into the notification the member is told about, if any."""
    notifications_for_events(type=type, items=[(membership, data)], at=at)


def notifications_for_events(*, type: str, items, at=None) -> None:
    """``notifications_for_event`` for each ``(membership, data)`` in ``items``, in a number
    of queries that does not grow with them. Earned points cause no notice of their own:
    their memberships are checked after the commit, all at once, for the next tier within
    reach."""
    from programs.services import events

    if type == events.POINTS_AWARDED:
        tier_progress_checks_on_commit([membership.pk for membership, _data in items])
        return
    specs = [_spec_for_event(type, membership, data) for membership, data in items]
    notifications_create_many([spec for spec in specs if spec is not None], at=at)


# --- next tier within reach -----------------------------------------------------------


class _ProgressChecks:
    """Memberships that earned points in one transaction; checked once after its commit."""

    def __init__(self) -> None:
        self.ids: set[int] = set()
        self.ran = False
        # on_commit(robust=True) logs a failing callback by its __qualname__ (a broker outage)
        self.__qualname__ = "tier_progress_check_on_commit"

    def __call__(self) -> None:
        from programs.notifications.tasks import check_tier_progress_task

        self.ran = True
        check_tier_progress_task.delay(sorted(self.ids))


_local = threading.local()


def tier_progress_check_on_commit(membership_id: int) -> None:
    """After the commit, check whether the membership is now close to its next tier."""
    tier_progress_checks_on_commit([membership_id])


def tier_progress_checks_on_commit(membership_ids: Iterable[int]) -> None:
    """After the commit, check whether these memberships are now close to their next tier.

    All memberships of one transaction (a batch of awards) share one task."""
    ids = set(membership_ids)
    if not ids:
        return
    connection = transaction.get_connection()
    checks = getattr(_local, "checks", None)
    registered = (
        checks is not None
        and not checks.ran
        and connection.in_atomic_block
        and any(func is checks for _sids, func, _robust in connection.run_on_commit)
    )
    if not registered:
        checks = _local.checks = _ProgressChecks()
    checks.ids.update(ids)  # before on_commit: outside a transaction it runs at once
    if not registered:
        transaction.on_commit(checks, robust=True)


def tier_progress_check(membership_id: int, now: datetime | None = None) -> Notification | None:
    """Notify once per tier and qualification period when the member's figures are within
    the program's ``approaching_tier_percent`` of the next tier's threshold."""
    keys = tier_progress_checks([membership_id], now)
    return Notification.objects.filter(cause_key__in=keys).first() if keys else None


def tier_progress_checks(membership_ids: Iterable[int], now: datetime | None = None) -> list[str]:
    """``tier_progress_check`` for many memberships, set-based: a few queries per program
    whatever the number of memberships (the worker checks a whole award batch at once).
    Returns the cause keys of the notices that are due (new or already sent)."""
    from programs.models import Membership
    from programs.services.tiers import (
        next_tier,
        qualification_window,
        qualified_tiers,
        qualifying_values,
        supported_tier,
    )

    now = now or timezone.now()
    by_program = defaultdict(list)
    memberships = (
        Membership.objects.select_related("program", "qualified_tier")
        .filter(pk__any=set(membership_ids), program__approaching_tier_percent__gt=0)
        .order_by("pk")
    )
    for membership in memberships:  # gone ones (e.g. a flushed test database) drop out
        by_program[membership.program_id].append(membership)
    specs = []
    for group in by_program.values():
        program = group[0].program
        tiers = qualified_tiers(program)
        if not tiers:
            continue
        start, end = qualification_window(program, now)
        values = qualifying_values(program.tier_metric, [m.pk for m in group], start, end)
        for membership in group:
            value = max(values.get(membership.pk, ZERO), ZERO)
            reached = max(
                [membership.qualified_tier, supported_tier(tiers, value)],
                key=lambda t: -1 if t is None else t.rank,
            )
            target = next_tier(tiers, reached)
            if target is None or target.threshold <= 0:
                continue
            missing = target.threshold - value
            if missing <= 0 or missing > target.threshold * program.approaching_tier_percent / 100:
                continue
            review = membership.tier_review_at
            period = review.date().isoformat() if review else "-"
            specs.append(
                NotificationSpec(
                    customer_id=membership.customer_id,
                    membership_id=membership.pk,
                    kind=NotificationKind.TIER_APPROACHING,
                    cause_key=f"tier-approaching:{membership.pk}:{target.pk}:{period}",
                    params={
                        "program": program.name,
                        "tier": target.name,
                        "missing": str(missing.quantize(Decimal("0.01"))),
                        "metric": program.tier_metric,
                        "currency": program.currency,
                    },
                )
            )
    notifications_create_many(specs, at=now)
    return [spec.cause_key for spec in specs]


# --- points about to expire -----------------------------------------------------------


def points_expiry_warn(now: datetime | None = None, days: int = EXPIRY_WARNING_DAYS) -> int:
    """Warn members whose points expire within ``days``: one notification per membership
    and expiry day. Set-based; safe to run again (existing causes are skipped).
    Returns the number of notifications written."""
    from programs.models import PointLot

    now = now or timezone.now()
    rows = (
        PointLot.objects.filter(
            expired_at__isnull=True,
            released_at__isnull=False,
            remaining__gt=0,
            expires_at__gt=now,
            expires_at__lte=now + timedelta(days=days),
        )
        .annotate(day=TruncDate("expires_at"))
        .values("membership_id", "membership__customer_id", "membership__program__name", "day")
        .annotate(points=Sum("remaining"))
        .order_by("membership_id", "day")
    )
    specs = [
        NotificationSpec(
            customer_id=row["membership__customer_id"],
            membership_id=row["membership_id"],
            kind=NotificationKind.POINTS_EXPIRING,
            cause_key=f"points-expiring:{row['membership_id']}:{row['day'].isoformat()}",
            params={
                "program": row["membership__program__name"],
                "points": row["points"],
                "expires_on": row["day"].isoformat(),
            },
        )
        for row in rows
    ]
    return notifications_create_many(specs, at=now)


# --- sending --------------------------------------------------------------------------

EMAIL_CHUNK = 50


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
    each outcome recorded as it happens without waiting for the disk (``_NO_FLUSH``).
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


# An e-mail's outcome commits without waiting for the WAL flush. Each e-mail commits once,
# and with the default setting each commit waits for a disk flush: the worker sat in
# WALSync while awards waited in the queue behind a burst of tier e-mails. What a database
# crash can lose is the last fraction of a second of outcomes, after which an e-mail may be
# sent again; a crash between sending and recording does that anyway. The setting rides in
# the statement (one round trip) and is its transaction's own (``is_local``): outside any
# transaction the statement is its transaction, so nothing else on the connection, awards
# included, commits this way. Inside a bigger transaction (tests) it is left out.
_NO_FLUSH = RawSQL(
    "set_config('synchronous_commit', 'off', true) IS NOT NULL", [], output_field=BooleanField()
)


def _record(notification: Notification, **values) -> None:
    """Write one e-mail's outcome and count its attempt (``_NO_FLUSH``)."""
    rows = Notification.objects.filter(pk=notification.pk)
    if not db.in_atomic_block:
        rows = rows.filter(_NO_FLUSH)
    rows.update(email_attempts=F("email_attempts") + 1, **values)


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


@transaction.atomic
def notifications_email_resend(notification_ids: Iterable[int]) -> int:
    """Staff send these e-mails again (after a mail server fix), whatever their state;
    preferences still apply when the worker sends. Returns how many were queued."""
    ids = list(notification_ids)
    count = Notification.objects.filter(pk__in=ids).update(
        email_state=EmailState.PENDING,
        email_attempts=0,
        email_last_error="",
        email_next_attempt_at=timezone.now(),
    )
    if count:
        _enqueue_emails(ids)
    return count


@transaction.atomic
def notifications_mark_read(customer: Customer, ids: Iterable[int] | None = None) -> int:
    """Mark the customer's notifications read: those with ``ids`` (others' ids are
    ignored), or all unread ones. Returns how many changed."""
    unread = Notification.objects.filter(customer=customer, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=[int(i) for i in ids])
    return unread.update(read_at=timezone.now())
