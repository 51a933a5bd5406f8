"""A refund of an order paid partly with points gives those points back.

The order is the partner's purchase whose ``order_id`` is a captured hold's
``order_reference`` (same partner, same member). After each refund of the purchase the
hold has given back floor(captured points x refunded amount / purchase amount) in total,
and all its captured points once the purchase is fully refunded: to the lots they were
drawn from, latest drawn first, in ``capture_refund`` entries. Points that go back to a
lot which has expired meanwhile expire at once; points of a purchase returned meanwhile
are taken back (as when a redemption is cancelled).
"""

from decimal import ROUND_DOWN

from programs.models import (
    EntryKind,
    EntrySource,
    HoldStatus,
    LedgerEntry,
    Membership,
    PointsHold,
    Purchase,
    Refund,
)
from programs.services.ledger import Actor, points_restore
from programs.services.returns import returned_points_reclaim


def _refund_draws(entry: LedgerEntry, *, skip: int, points: int) -> list:
    """``points`` of a capture's draws, latest drawn first, after the ``skip`` given back."""
    draws = []
    for allocation in entry.allocations.select_related("lot").order_by("-pk"):
        passed = min(allocation.points, skip)
        skip -= passed
        take = min(allocation.points - passed, points)
        points -= take
        if take:
            draws.append((allocation.lot, take))
    return draws


def order_holds_refund(
    *, membership: Membership, purchase: Purchase, refund: Refund, actor: Actor
) -> int:
    """After ``refund`` of ``purchase``: give back the captured points of the member's
    holds that paid for its order (same partner, ``order_reference`` == ``order_id``),
    pro rata to the refunded share of the purchase. The caller holds the membership lock
    inside a transaction. Returns the points given back."""
    holds = PointsHold.objects.select_for_update().filter(
        membership=membership,
        partner_id=purchase.partner_id,
        order_reference=purchase.order_id,
        status=HoldStatus.CAPTURED,
    )
    given = 0
    for hold in holds.order_by("pk"):
        if purchase.refunded_amount >= purchase.amount:
            target = hold.points_captured
        else:
            share = hold.points_captured * purchase.refunded_amount / purchase.amount
            target = int(share.to_integral_value(rounding=ROUND_DOWN))
        due = target - hold.points_refunded
        if due <= 0:
            continue
        capture = hold.entries.get(kind=EntryKind.CAPTURE)
        entry = points_restore(
            membership,
            draws=_refund_draws(capture, skip=hold.points_refunded, points=due),
            kind=EntryKind.CAPTURE_REFUND,
            source=EntrySource.PAYMENT,
            idempotency_key=f"refund:{refund.pk}:hold:{hold.pk}",
            actor=actor,
            reason=f"return {refund.refund_id} of order {purchase.order_id}",
            hold=hold,
        )
        returned_points_reclaim(
            membership,
            spent_entry=capture,
            idempotency_key=f"{entry.idempotency_key}:reverse",
            actor=actor,
        )
        hold.points_refunded += due
        hold.save(update_fields=["points_refunded"])
        given += due
    return given
