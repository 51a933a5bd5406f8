"""Notifications: created with the change that causes them, e-mailed after the commit.

* ``notifications_for_event`` is called by ``programs.services.events.event_record``
  inside the service's transaction. Tier upgrades and downgrades, redeemed rewards and
  referral rewards become notifications at once; earned points only enqueue, after the
  commit, a check whether the next tier is now within reach (``tier_progress``).
* ``points_expiry_warn`` (daily job) warns of points expiring within ``EXPIRY_WARNING_DAYS``,
  set-based: one aggregate query, one bulk insert.
* Birthday and anniversary bonuses (``programs.services.occasions``, daily job) write
  theirs with ``notifications_create_many`` in the transaction of the award.
* Each notification has a unique ``cause_key``: a cause notifies at most once, however
  often it is replayed, and concurrent writers cannot both insert it.
* The feed entry is always written; the e-mail is skipped (and recorded so) when the
  customer switched that topic off or has no address, and otherwise sent after the commit
  by the worker (``programs.notifications.emails``).

The tasks are enqueued by name: ``tasks`` imports this module.
"""

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from customers.models import Customer
from customers.preferences import customers_without_email
from loyalty_site.core.commit import enqueue_after_commit, enqueue_ids_after_commit
from programs.models import PointLot, WebhookEventType
from programs.notifications.kinds import EMAIL_SWITCH
from programs.notifications.models import EmailState, Notification, NotificationKind

SEND_TASK = "programs.notifications.tasks.send_notification_emails_task"
TIER_PROGRESS_TASK = "programs.notifications.tasks.check_tier_progress_task"
EMAIL_CHUNK = 50  # e-mails per send task


logger = logging.getLogger("programs.notifications")

EXPIRY_WARNING_DAYS = 30
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
        Customer.objects.filter(pk__in=customer_ids)
        .filter(Q(email="") | Q(anonymized_at__isnull=False))
        .values_list("pk", flat=True)
    )
    kinds = {kind for _id, kind in wanted}
    opted_out = {
        kind: customers_without_email(customer_ids, EMAIL_SWITCH[kind])
        if EMAIL_SWITCH[kind]
        else set()
        for kind in kinds
    }
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
    # a broker outage must not fail the change; the sweeper sends it later.
    enqueue_after_commit(SEND_TASK, list(ids))


def _tier_names(membership, data: dict) -> dict:
    return {
        "program": membership.program.name,
        "tier": data.get("to_tier"),
        "from_tier": data.get("from_tier"),
    }


def _spec_for_event(type: str, membership, data: dict) -> NotificationSpec | None:
    """The notification a domain event causes, if any (earned points cause none directly)."""

    def spec(kind: str, cause_key: str, params: dict) -> NotificationSpec:
        return NotificationSpec(
            customer_id=membership.customer_id,
            membership_id=membership.pk,
            kind=kind,
            cause_key=cause_key,
            params=params,
        )

    if type == WebhookEventType.TIER_CHANGED:
        if data.get("reason") == "enrolled":
            return None
        up = data.get("direction") == "up"
        return spec(
            NotificationKind.TIER_UPGRADE if up else NotificationKind.TIER_DOWNGRADE,
            f"tier-change:{data['change_id']}",
            _tier_names(membership, data),
        )
    if type == WebhookEventType.REWARD_REDEEMED:
        return spec(
            NotificationKind.REWARD_REDEEMED,
            f"redemption:{data['redemption_id']}",
            {
                "program": membership.program.name,
                "reward": data["reward"],
                "points": data["points"],
                "voucher_code": data["voucher_code"],
                "redemption_id": data["redemption_id"],  # the voucher's page in the e-mail
            },
        )
    if type == WebhookEventType.REFERRAL_REWARDED:
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
    if type == WebhookEventType.POINTS_AWARDED:
        # one task per transaction, however many awards it holds
        ids = sorted({membership.pk for membership, _data in items})
        if ids:
            enqueue_ids_after_commit(TIER_PROGRESS_TASK, ids)
        return
    specs = [_spec_for_event(type, membership, data) for membership, data in items]
    notifications_create_many([spec for spec in specs if spec is not None], at=at)


# --- points about to expire -----------------------------------------------------------


def points_expiry_warn(now: datetime | None = None, days: int = EXPIRY_WARNING_DAYS) -> int:
    """Warn members whose points expire within ``days``: one notification per membership
    and expiry day. Set-based; safe to run again (existing causes are skipped).
    Returns the number of notifications written."""
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


@transaction.atomic
def notifications_mark_read(customer: Customer, ids: Iterable[int] | None = None) -> int:
    """Mark the customer's notifications read: those with ``ids`` (others' ids are
    ignored), or all unread ones. Returns how many changed."""
    unread = Notification.objects.filter(customer=customer, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=[int(i) for i in ids])
    return unread.update(read_at=timezone.now())
