"""Staff's side of transfers: approve or reject one waiting for review, reverse one that
was done. Approving moves the points only if the sender still has them; reversing gives
the received points back to the very lots they came from (``transfers`` for the rules)."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from programs.errors import (
    MembershipInactive,
    TransferNotReversible,
    TransferRefused,
)
from programs.models import (
    EntryKind,
    EntrySource,
    LedgerEntry,
    LotAllocation,
    Membership,
    MembershipStatus,
    PointLot,
    Transfer,
    TransferStatus,
)
from programs.services.ledger import (
    append_entry,
    consume_lots,
    membership_expire_overdue,
    points_restore,
)
from programs.services.locking import lock_memberships
from programs.services.postings import Actor
from programs.services.transfers import transfer_post


@transaction.atomic
def transfer_approve(*, transfer: Transfer, user, note: str = "") -> Transfer:
    """Staff approve a transfer waiting for review: the points move now, if the sender
    still has them (else nothing changes and the error says so)."""
    transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
    if transfer.status != TransferStatus.REVIEW:
        raise TransferRefused(_("This transfer is not waiting for review."))
    locked = lock_memberships([transfer.sender_id, transfer.recipient_id])
    sender, recipient = locked[transfer.sender_id], locked[transfer.recipient_id]
    if sender.status != MembershipStatus.ACTIVE or recipient.status != MembershipStatus.ACTIVE:
        raise MembershipInactive()
    transfer_post(transfer, sender, recipient, Actor.for_staff(user))
    Transfer.objects.filter(pk=transfer.pk).update(
        reviewed_by=user, reviewed_at=timezone.now(), review_note=note[:255]
    )
    transfer.refresh_from_db()
    return transfer


@transaction.atomic
def transfer_reject(*, transfer: Transfer, user, note: str = "") -> Transfer:
    transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
    if transfer.status != TransferStatus.REVIEW:
        raise TransferRefused(_("This transfer is not waiting for review."))
    transfer.status = TransferStatus.REJECTED
    transfer.reviewed_by, transfer.reviewed_at = user, timezone.now()
    transfer.review_note = note[:255]
    transfer.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_note"])
    return transfer


def _take_back(recipient: Membership, transfer: Transfer, common: dict) -> None:
    """The recipient gives the points back from the lot they received first (its
    expiry is the sender's), then from their other lots in the program's order: their own
    points keep their own expiry."""
    points = transfer.points
    back = append_entry(
        recipient,
        kind=EntryKind.TRANSFER_BACK,
        idempotency_key=f"transfer:{transfer.pk}:back:in",
        points=-points,
        **common,
    )
    received = (
        PointLot.objects.filter(
            membership=recipient,
            earn_entry__idempotency_key=f"transfer:{transfer.pk}:in",
            released_at__isnull=False,
            expired_at__isnull=True,
            remaining__gt=0,
        )
        .order_by("pk")
        .first()
    )
    taken = 0
    if received is not None:
        taken = min(received.remaining, points)
        received.remaining -= taken
        received.save(update_fields=["remaining"])
        LotAllocation.objects.create(entry=back, lot=received, points=taken)
    taken += consume_lots(
        recipient, back, points - taken, exclude=[received.pk] if received else []
    )
    if taken != points:  # the caches and the lots disagree: never paper over it
        raise RuntimeError(f"membership {recipient.pk}: lots held {taken} of {points} points")


@transaction.atomic
def transfer_reverse(*, transfer: Transfer, user, note: str = "") -> Transfer:
    """Staff take a done transfer back: the recipient gives the points back to the very
    lots they came from (expired ones expire again at once). Refused when the recipient
    no longer has them available; an adjustment is then the honest tool."""
    transfer = Transfer.objects.select_for_update().get(pk=transfer.pk)
    if transfer.status != TransferStatus.DONE:
        raise TransferNotReversible(_("Only a completed transfer can be reversed."))
    locked = lock_memberships([transfer.sender_id, transfer.recipient_id])
    sender, recipient = locked[transfer.sender_id], locked[transfer.recipient_id]
    if sender.status == MembershipStatus.CLOSED:  # e.g. a closed account's settlement
        raise TransferNotReversible(
            _("The points came from a closed membership; adjust the balances instead.")
        )
    membership_expire_overdue(recipient)
    if recipient.balance - recipient.debt < transfer.points:
        raise TransferNotReversible(
            _(
                "The recipient has %(available)s points available, fewer than the %(points)s "
                "received; adjust the balances instead."
            )
            % {"available": max(recipient.balance - recipient.debt, 0), "points": transfer.points}
        )
    actor = Actor.for_staff(user)
    common = {
        "source": EntrySource.TRANSFER,
        "actor": actor,
        "reason": f"transfer {transfer.pk} reversed",
    }
    _take_back(recipient, transfer, common)
    out = LedgerEntry.objects.get(idempotency_key=f"transfer:{transfer.pk}:out")
    points_restore(
        sender,
        kind=EntryKind.TRANSFER_BACK,
        idempotency_key=f"transfer:{transfer.pk}:back:out",
        spent_entry=out,
        **common,
    )
    now = timezone.now()
    transfer.status, transfer.reversed_at = TransferStatus.REVERSED, now
    transfer.reviewed_by = transfer.reviewed_by or user
    transfer.review_note = (note or transfer.review_note)[:255]
    transfer.save(update_fields=["status", "reversed_at", "reviewed_by", "review_note"])
    return transfer
