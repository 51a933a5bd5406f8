"""Celery tasks: thin, take ids, safe to run twice. The services do the work."""

import logging

from celery import shared_task
from django.db import OperationalError
from django.utils import timezone

from programs.admin.export_jobs import STALE_AFTER as EXPORT_STALE_AFTER
from programs.admin.export_jobs import TIME_LIMIT as EXPORT_TIME_LIMIT
from programs.admin.export_jobs import export_files_purge, export_job_run
from programs.api.tasks import (  # noqa: F401 - registered with the worker through this module
    deliver_webhooks_task,
    purge_idempotency_records_task,
    sweep_webhook_deliveries_task,
)
from programs.imports.commits import import_commit, imports_sweep
from programs.imports.dry_runs import CHECK_TIME_LIMIT, import_check
from programs.models import Purchase, PurchaseStatus
from programs.services import account_invitation_emails, due
from programs.services.account_invitations import invitations_expire_lapsed
from programs.services.account_tiers import account_tiers_refresh_all
from programs.services.holds import holds_expire_due
from programs.services.occasions import occasions_award
from programs.services.purchases import purchases_award
from programs.services.retention import retention_run
from programs.what_if.runs import RUN_SOFT_TIME_LIMIT, RUN_TIME_LIMIT, what_if_run

logger = logging.getLogger(__name__)

# A purchase recorded by the API is awarded alone, at once (enqueued after its commit). The
# sweeper drains a backlog in big batches: one transaction and about twenty queries per
# batch, whatever its size (programs.services.awarding).
AWARD_BATCH = 1000
SWEEP_AFTER_SECONDS = 30
SWEEP_LIMIT = 200_000  # purchases one sweep enqueues at most; the next sweep takes the rest
SWEEP_CHUNK = 20_000  # ids read at a time, so the sweeper's memory does not grow with it
TRANSIENT = (OperationalError,)


@shared_task(
    bind=True,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=10,
    acks_late=True,
)
def award_purchases_task(self, purchase_ids: list[int]) -> int:
    """Award the points of these purchases (those still received; others are skipped)."""
    return purchases_award(purchase_ids)


@shared_task(ignore_result=True)
def sweep_received_purchases_task() -> int:
    """Re-enqueue purchases still unprocessed a little after they were received: the
    database is the source of truth, so a broker outage or a crash between commit and
    enqueue delays points but never loses them. A purchase parked as failed is no longer
    received: it stays out until staff retry it. Batches hold whole members (purchases
    sorted by membership), so workers draining side by side seldom wait for each other's
    membership locks."""
    cutoff = timezone.now() - timezone.timedelta(seconds=SWEEP_AFTER_SECONDS)
    received = Purchase.objects.filter(status=PurchaseStatus.RECEIVED, received_at__lte=cutoff)
    swept = last = 0
    while swept < SWEEP_LIMIT:
        rows = list(
            received.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "membership_id")[: min(SWEEP_CHUNK, SWEEP_LIMIT - swept)]
        )
        if not rows:
            break
        last = rows[-1][0]
        swept += len(rows)
        rows.sort(key=lambda row: (row[1], row[0]))
        for start in range(0, len(rows), AWARD_BATCH):
            award_purchases_task.delay([pk for pk, _ in rows[start : start + AWARD_BATCH]])
    if swept:
        logger.info("sweeper re-enqueued %d received purchases", swept)
    return swept


@shared_task(ignore_result=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def release_pending_points_task() -> int:
    return due.points_release_due()


@shared_task(ignore_result=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def expire_points_task() -> int:
    return due.points_expire_due()


@shared_task(ignore_result=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def expire_points_holds_task() -> int:
    """Release points held for payments that were neither captured nor voided in time."""
    return holds_expire_due()


@shared_task(ignore_result=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def close_tier_periods_task() -> int:
    return due.tiers_review_due()


@shared_task(ignore_result=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def refresh_account_tiers_task() -> int:
    """After the period-end reviews: every shared account's tier, handed to its members."""
    return account_tiers_refresh_all()


@shared_task(ignore_result=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def release_referral_rewards_task() -> int:
    return due.referrals_release_due()


@shared_task(ignore_result=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def award_occasions_task() -> int:
    """Birthday and anniversary bonuses of today and the few days before (a missed run)."""
    return occasions_award()


@shared_task(
    ignore_result=True,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    max_retries=5,
    soft_time_limit=1800,  # a backlog of RUN_LIMIT customers, one transaction each
    time_limit=1900,
)
def anonymise_inactive_customers_task() -> int:
    """Retention: tonight's notices, then anonymise customers inactive past the policy
    (programs.services.retention). Returns how many were anonymised."""
    return len(retention_run().anonymised)


@shared_task(ignore_result=True)
def reconcile_ledger_task() -> int:
    drift = due.ledger_drift()
    for row in drift[:100]:
        logger.error("ledger drift: %s", row)
    return len(drift)


@shared_task(ignore_result=True, soft_time_limit=RUN_SOFT_TIME_LIMIT, time_limit=RUN_TIME_LIMIT)
def what_if_run_task(run_id: int) -> None:
    """Compute a what-if run (once: a second delivery finds it taken)."""
    what_if_run(run_id)


# An import's tasks: taken back by the broker if the worker dies, tried again after a
# database outage; the job's checkpoint makes a second run continue, not repeat.
IMPORT_TASK = {
    "ignore_result": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": TRANSIENT,
    "retry_backoff": True,
    "max_retries": 10,
    "soft_time_limit": CHECK_TIME_LIMIT,
    "time_limit": CHECK_TIME_LIMIT + 60,
}


@shared_task(**IMPORT_TASK)
def import_check_task(job_id: int) -> None:
    """The dry run of an import (``programs.imports.dry_runs``); safe to run twice."""
    import_check(job_id)


@shared_task(**IMPORT_TASK)  # its first task runs the dry run again
def import_commit_task(job_id: int) -> None:
    """Write a confirmed import from its checkpoint on; a second delivery waits its turn."""
    import_commit(job_id)


@shared_task(ignore_result=True)
def imports_sweep_task() -> int:
    """Resume imports whose worker was killed or restarted."""
    return imports_sweep()


@shared_task(
    bind=True,
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    soft_time_limit=EXPORT_TIME_LIMIT,
    time_limit=EXPORT_TIME_LIMIT + 60,
)
def export_job_task(self, job_id: int) -> None:
    """Write an export (Excel or CSV) in the background (``programs.admin.export_jobs``). A second
    delivery while another worker still shows progress asks again later, and takes over
    if that worker is gone (killed: the task is acknowledged late, so it comes back)."""
    if not export_job_run(job_id):
        raise self.retry(countdown=EXPORT_STALE_AFTER.total_seconds() + 10)


@shared_task(ignore_result=True)
def export_files_purge_task() -> int:
    """Delete the files of background exports finished more than a week ago."""
    return export_files_purge()


@shared_task(bind=True, acks_late=True, autoretry_for=TRANSIENT, retry_backoff=True, max_retries=5)
def send_account_invitations_task(self, invitation_ids: list[int]) -> int:
    """Send the e-mails of these shared-account invitations (those due; others are
    skipped). A failed send is retried after the recorded backoff: re-enqueued here, and
    caught by the sweeper if that enqueue is lost."""
    sent = 0
    retry: dict[float, list[int]] = {}
    for pk, outcome in account_invitation_emails.account_invitation_emails_send(invitation_ids):
        sent += outcome.state == account_invitation_emails.SENT
        if outcome.retry_in is not None:
            retry.setdefault(outcome.retry_in.total_seconds(), []).append(pk)
    for countdown, ids in retry.items():
        send_account_invitations_task.apply_async((ids,), countdown=countdown)
    return sent


@shared_task(ignore_result=True)
def sweep_account_invitations_task() -> int:
    """Mark lapsed invitations expired; enqueue every invitation e-mail whose (re)try is
    due: retries, and invitations whose enqueue was lost (broker down at commit, worker
    crash)."""
    invitations_expire_lapsed()
    ids = account_invitation_emails.account_invitation_emails_due()
    chunk = account_invitation_emails.CHUNK
    for start in range(0, len(ids), chunk):
        send_account_invitations_task.delay(ids[start : start + chunk])
    return len(ids)
