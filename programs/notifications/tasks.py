"""Celery tasks of the notifications: e-mails, expiry warnings, tier progress checks.
Thin, take ids, safe to run twice."""

import logging
from datetime import datetime, timedelta

from celery import shared_task
from django.db import OperationalError
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from programs.models import EntryKind, LedgerEntry, Membership
from programs.notifications.emails import notification_emails_due, notification_emails_send
from programs.notifications.models import EmailState, Notification, NotificationKind
from programs.notifications.services import EMAIL_CHUNK, points_expiry_warn
from programs.notifications.tier_progress import tier_progress_checks
from programs.services.account_tiers import account_tiers_after_earning

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError,)


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def send_notification_emails_task(self, notification_ids: list[int]) -> int:
    """Send the e-mails of these notifications (those due; others are skipped). An SMTP or
    network failure is recorded on the notification and retried with backoff: here, by
    re-enqueueing just the failed ones after the recorded delay; the sweeper catches any
    retry this task could not schedule."""
    sent = 0
    retry: dict[float, list[int]] = {}
    for pk, outcome in notification_emails_send(notification_ids):
        sent += outcome.state == EmailState.SENT
        if outcome.retry_in is not None:
            retry.setdefault(outcome.retry_in.total_seconds(), []).append(pk)
    for countdown, ids in retry.items():
        send_notification_emails_task.apply_async((ids,), countdown=countdown)
    return sent


@shared_task(ignore_result=True)
def sweep_notification_emails_task() -> int:
    """Enqueue every e-mail whose (re)try is due: retries, and notifications whose enqueue
    was lost (broker down at commit, worker crash)."""
    due = notification_emails_due()
    for start in range(0, len(due), EMAIL_CHUNK):
        send_notification_emails_task.delay(due[start : start + EMAIL_CHUNK])
    return len(due)


@shared_task(ignore_result=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def check_tier_progress_task(membership_ids: list[int]) -> int:
    """After points were earned: tell members who are now close to their next tier, and
    refresh the tiers of the shared accounts they belong to or hold."""
    account_tiers_after_earning(membership_ids)
    return len(tier_progress_checks(membership_ids))


TIER_PROGRESS_SWEEP_WINDOW = timedelta(days=1)


def tier_progress_sweep_candidates(now: datetime) -> list[int]:
    """Memberships that earned points within the sweep window and have had no
    tier-approaching notice since their last earning, in one query.

    A notice created after the last earning came from a check that already saw the
    current figures (the next tier it named is still the next tier), so only these
    memberships can be owed a notice whose after-commit check was lost."""
    earned = LedgerEntry.objects.filter(
        membership=OuterRef("pk"),
        kind=EntryKind.EARN,
        created_at__gte=now - TIER_PROGRESS_SWEEP_WINDOW,
        created_at__lte=now,
    )
    last_earned_at = Subquery(earned.order_by("-created_at").values("created_at")[:1])
    notified = Notification.objects.filter(
        membership=OuterRef("pk"),
        kind=NotificationKind.TIER_APPROACHING,
        created_at__gte=OuterRef("last_earned_at"),
    )
    return list(
        Membership.objects.filter(Exists(earned), program__approaching_tier_percent__gt=0)
        .annotate(last_earned_at=last_earned_at)
        .filter(~Exists(notified))
        .order_by("pk")
        .values_list("pk", flat=True)
    )


@shared_task(ignore_result=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def sweep_tier_progress_task() -> int:
    """Daily safety net for ``check_tier_progress_task``: its enqueue after the commit is
    lost when the broker is down. Checks the candidates of the last day again; the
    notification's unique cause key keeps a notice from being sent twice."""
    now = timezone.now()
    return len(tier_progress_checks(tier_progress_sweep_candidates(now), now))


@shared_task(ignore_result=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def warn_expiring_points_task() -> int:
    return points_expiry_warn()
