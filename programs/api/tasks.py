"""Celery tasks of the partner API: webhook deliveries, idempotency-key upkeep. Thin, take
ids, safe to run twice.

The worker finds them once ``programs/tasks.py`` imports them (see docs/api.md)."""

from celery import shared_task
from django.db import OperationalError

from programs.services.api_keys import api_keys_expiry_announce
from programs.services.idempotency import idempotency_records_purge
from programs.services.webhook_events import DELIVERY_CHUNK
from programs.services.webhooks import webhook_deliveries_due, webhook_deliveries_send

CHUNK = DELIVERY_CHUNK


@shared_task(
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
)
def deliver_webhooks_task(delivery_ids: list[int]) -> int:
    """Attempt these deliveries (those due; others are skipped). One that cannot be
    attempted at all (a broken row) is given up with the reason, and the others go on."""
    return len(webhook_deliveries_send(delivery_ids))


@shared_task(ignore_result=True)
def sweep_webhook_deliveries_task() -> int:
    """Enqueue every delivery whose (re)try is due: retries, and events whose enqueue was
    lost (broker down at commit, worker crash)."""
    due = webhook_deliveries_due()
    for start in range(0, len(due), CHUNK):
        deliver_webhooks_task.delay(due[start : start + CHUNK])
    return len(due)


@shared_task(ignore_result=True)
def purge_idempotency_records_task() -> int:
    """Forget Idempotency-Keys older than a day (their keys may then be reused)."""
    return idempotency_records_purge()


@shared_task(ignore_result=True)
def announce_expiring_api_keys_task() -> int:
    """Tell partners by webhook about their keys that expire soon (once per key)."""
    return api_keys_expiry_announce()
