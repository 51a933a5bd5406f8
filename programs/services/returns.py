"""Taking back points whose cause was undone (a returned purchase, a referral whose
qualifying purchase was returned), under the program's return policy.

What a return may take, in this order:

1. what is left in the lot the cause credited (pending: always; available: unless the
   policy is ``pending_only``);
2. for the part of that lot that was *spent* (redeemed, used to pay a debt or another
   return) and not made good yet: other available points (``within_available``) or, beyond
   them, a debt (``allow_negative``). Points of the lot that *expired* are gone already and
   are never taken a second time from other lots.

Points a ``within_available`` return could not take because they were spent come back to
their lot when that redemption is cancelled; they are taken back then
(``returned_points_reclaim``), so a cancellation never revives returned points.

Every function expects the membership locked by the caller inside a transaction.
"""

from datetime import datetime

from django.db.models import Q, Sum
from django.db.models.functions import Coalesce

from programs.models import (
    EntryKind,
    EntrySource,
    LedgerEntry,
    LotAllocation,
    Membership,
    PointLot,
    ReturnPolicy,
)
from programs.services.ledger import Actor, append_entry, consume_lots


def _reversals(membership: Membership, links: dict):
    # With the memberships merged into this one (``link_claims``): a return of a purchase
    # made before the merge counts the reversals made before it too.
    return LedgerEntry.objects.filter(
        Q(membership=membership) | Q(membership__merged_into=membership),
        kind=EntryKind.REVERSE,
        **links,
    )


def reversed_points(membership: Membership, **links) -> int:
    """Points (available, pending and debt) taken back so far for this cause."""
    total = _reversals(membership, links).aggregate(
        total=Coalesce(Sum("points"), 0) + Coalesce(Sum("pending_points"), 0)
    )["total"]
    return -total


def spent_not_made_good(membership: Membership, lot: PointLot, **links) -> int:
    """Points of ``lot`` that left it other than by expiry or by this cause's own
    reversals, less what this cause's reversals already took from elsewhere."""
    allocations = LotAllocation.objects.filter(lot=lot)
    expired_or_own = allocations.filter(
        Q(entry__kind=EntryKind.EXPIRE) | Q(entry__in=_reversals(membership, links))
    )
    own = allocations.filter(entry__in=_reversals(membership, links))
    expired_or_own_total = expired_or_own.aggregate(total=Coalesce(Sum("points"), 0))["total"]
    own_total = own.aggregate(total=Coalesce(Sum("points"), 0))["total"]
    spent = lot.points - lot.remaining - expired_or_own_total
    elsewhere = reversed_points(membership, **links) - own_total
    return max(0, spent - elsewhere)


def points_reverse(
    membership: Membership,
    *,
    lot: PointLot | None,
    points: int,
    idempotency_key: str,
    actor: Actor,
    reason: str,
    source: str = EntrySource.PURCHASE,
    effective_at: datetime | None = None,
    **links,
) -> int:
    """Take back up to ``points`` credited by ``lot`` as the policy allows; one reverse
    entry linked to the cause (``purchase=`` or ``referral=``), effective when the points
    were earned (``effective_at``, default the lot's ``earned_at``: a return counts against
    the period of the purchase it undoes). Returns the points taken."""
    policy = membership.program.return_policy
    from_pending = from_own = from_other = from_debt = 0
    if lot is not None:
        lot.refresh_from_db(fields=["remaining", "released_at", "expired_at"])
        if lot.released_at is None:
            from_pending = min(points, lot.remaining)
        elif policy != ReturnPolicy.PENDING_ONLY:
            from_own = min(points, lot.remaining)
    rest = points - from_pending - from_own
    if rest > 0 and policy != ReturnPolicy.PENDING_ONLY:
        if lot is not None:
            rest = min(rest, spent_not_made_good(membership, lot, **links))
        from_other = max(0, min(rest, membership.balance - from_own))
        if policy == ReturnPolicy.ALLOW_NEGATIVE:
            from_debt = rest - from_other
    total = from_pending + from_own + from_other + from_debt
    if total == 0:
        return 0
    entry = append_entry(
        membership,
        kind=EntryKind.REVERSE,
        source=source,
        idempotency_key=idempotency_key,
        actor=actor,
        points=-(from_own + from_other + from_debt),
        pending_points=-from_pending,
        reason=reason,
        effective_at=effective_at or (lot.earned_at if lot is not None else None),
        **links,
    )
    if from_pending or from_own:
        lot.remaining -= from_pending + from_own
        lot.save(update_fields=["remaining"])
        LotAllocation.objects.create(entry=entry, lot=lot, points=from_pending + from_own)
    if from_other:
        taken = consume_lots(membership, entry, from_other, exclude=[lot.pk] if lot else [])
        if taken != from_other:  # the caches and the lots disagree: never paper over it
            raise RuntimeError(
                f"membership {membership.pk}: lots held {taken} of {from_other} points to reverse"
            )
    return total


def returned_points_reclaim(
    membership: Membership, *, spent_entry: LedgerEntry, idempotency_key: str, actor: Actor
) -> int:
    """After a cancelled redemption gave points back to their lots: take back, from the
    lot of a returned purchase, the points its return could not take because they were
    spent (``within_available``). Returns the points taken back."""
    if membership.program.return_policy != ReturnPolicy.WITHIN_AVAILABLE:
        return 0
    restored = (
        LotAllocation.objects.filter(entry=spent_entry)
        .filter(lot__earn_entry__kind=EntryKind.EARN, lot__earn_entry__purchase__isnull=False)
        .filter(lot__earn_entry__purchase__points_reversed__gt=0)
        .select_related("lot__earn_entry__purchase")
        .order_by("lot_id")
    )
    total = 0
    for allocation in restored:
        lot = allocation.lot
        purchase = lot.earn_entry.purchase
        outstanding = purchase.points_reversed - reversed_points(membership, purchase=purchase)
        lot.refresh_from_db(fields=["remaining", "expired_at"])
        take = min(allocation.points, lot.remaining, outstanding)
        if take <= 0 or lot.expired_at is not None:
            continue
        entry = append_entry(
            membership,
            kind=EntryKind.REVERSE,
            source=EntrySource.PURCHASE,
            idempotency_key=f"{idempotency_key}:{lot.pk}",
            actor=actor,
            points=-take,
            reason=f"returned order {purchase.order_id}: points given back by a cancellation",
            effective_at=purchase.occurred_at,
            purchase=purchase,
        )
        lot.remaining -= take
        lot.save(update_fields=["remaining"])
        LotAllocation.objects.create(entry=entry, lot=lot, points=take)
        total += take
    return total
