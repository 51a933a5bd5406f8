"""Purchases whose points cannot be awarded: split out of their batch, parked as
``failed`` with the reason, and put back by staff once the cause is fixed.

A purchase that makes its award batch fail (a broken row, a value the ledger cannot hold)
would otherwise roll the whole batch back, every time the sweeper re-queues it. Here the
batch is split (``loyalty_site.core.batches``) until the purchase that fails alone is
found; the others are awarded. The failed one leaves ``received``, so neither the sweeper
nor a stray award message takes it up again; the partner reads the reason with
``GET /purchases/{id}`` and receives a ``purchase.failed`` webhook.
"""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from loyalty_site.core.batches import batch_apply, failure_reason
from loyalty_site.core.commit import enqueue_after_commit
from programs.models import Membership, Purchase, PurchaseStatus
from programs.services import events
from programs.services.awarding import AWARD_TASK, purchases_award_bulk


def purchases_award_isolated(purchase_ids: Iterable[int]) -> int:
    """Award the received purchases among ``purchase_ids`` in batches that fail small.
    Returns how many were processed (awarded, rejected or parked as failed)."""
    return batch_apply(sorted(set(purchase_ids)), purchases_award_bulk, _park)


def _park(purchase_id: int, error: Exception) -> int:
    return int(purchase_fail(purchase_id=purchase_id, reason=failure_reason(error)))


def purchase_fail(*, purchase_id: int, reason: str) -> bool:
    """Park a received purchase as failed with ``reason`` and tell its partner
    (``purchase.failed``). False if it is no longer received (awarded meanwhile)."""
    now = timezone.now()
    with transaction.atomic():
        parked = Purchase.objects.filter(pk=purchase_id, status=PurchaseStatus.RECEIVED).update(
            status=PurchaseStatus.FAILED, failure_reason=reason, processed_at=now
        )
        if not parked:
            return False
        purchase = Purchase.objects.values("membership_id", "partner_id", "order_id").get(
            pk=purchase_id
        )
        membership = Membership.objects.select_related("program").get(pk=purchase["membership_id"])
        events.event_record(
            type=events.PURCHASE_FAILED,
            membership=membership,
            data={
                "purchase_id": purchase_id,
                "order_id": purchase["order_id"],
                "reason": reason,
                "partner_id": purchase["partner_id"],  # the only partner told
            },
            at=now,
        )
    return True


def purchases_retry(*, purchase_ids: Iterable[int]) -> list[int]:
    """Put failed purchases back to received and enqueue their award after the commit
    (staff, once the cause is fixed). Returns the ids put back; others are left alone."""
    with transaction.atomic():
        ids = list(
            Purchase.objects.select_for_update()
            .filter(pk__in=list(purchase_ids), status=PurchaseStatus.FAILED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not ids:
            return []
        Purchase.objects.filter(pk__in=ids).update(
            status=PurchaseStatus.RECEIVED, failure_reason="", processed_at=None
        )
        enqueue_after_commit(AWARD_TASK, ids)
    return ids
