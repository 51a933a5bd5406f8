"""The ledger operations: earning into lots, spending from them in the program's order,
restoring, releasing and expiring. Each posts its entries through ``postings`` (the one
writer of entries and balances) and keeps the lots in step with them.

Every function here expects the membership to be locked by the caller
(``programs.services.locking``) inside a transaction. Invariants kept, besides those of
``postings``:

* sum(remaining of released, unexpired lots) == membership.balance
* sum(remaining of unreleased lots) == membership.pending
"""

from collections.abc import Iterable
from datetime import datetime

from django.db.models import F, QuerySet
from django.utils import timezone

from programs.models import (
    EntryKind,
    EntrySource,
    LedgerEntry,
    LotAllocation,
    Membership,
    PointLot,
    RedemptionOrder,
)
from programs.services import events
from programs.services.events import event_record
from programs.services.expiry_rules import BY_RULE, lot_expiry
from programs.services.postings import Actor, Postings, entry_instance
from programs.services.table_rows import rows_insert_values


def entry_by_key(key: str) -> LedgerEntry | None:
    return LedgerEntry.objects.filter(idempotency_key=key).first()


def append_entry(
    membership: Membership,
    *,
    kind: str,
    source: str,
    idempotency_key: str,
    actor: Actor,
    points: int = 0,
    pending_points: int = 0,
    held_points: int = 0,
    reason: str = "",
    at: datetime | None = None,
    effective_at: datetime | None = None,
    **links,
) -> LedgerEntry:
    """Write one entry and move the membership's cached balances by the same amounts
    (``postings``: a batch of one; ``at`` and ``effective_at`` as there)."""
    postings = Postings()
    posted = postings.post(
        membership,
        kind=kind,
        source=source,
        idempotency_key=idempotency_key,
        actor=actor,
        points=points,
        pending_points=pending_points,
        held_points=held_points,
        reason=reason,
        at=at,
        effective_at=effective_at,
        **links,
    )
    postings.write()
    return entry_instance(posted)


def points_earn(
    membership: Membership,
    *,
    points: int,
    source: str,
    idempotency_key: str,
    actor: Actor,
    available_at: datetime | None = None,
    earned_at: datetime | None = None,
    reason: str = "",
    at: datetime | None = None,
    kind: str = EntryKind.EARN,
    expires_at: datetime | object | None = BY_RULE,
    **links,
) -> LedgerEntry:
    """Credit points as a new lot: pending until ``available_at`` if that lies ahead.
    The lot expires by the program's rule unless ``expires_at`` is given (None: never):
    points received from another member keep the expiry they had.

    ``earned_at`` (default: now) is the business time, e.g. the day of the purchase or
    action: the entry's ``effective_at`` and the lot's date for expiry and FIFO order; the
    entry is recorded when it is written (``at``, default now)."""
    now = at or timezone.now()
    pending = available_at is not None and available_at > now
    entry = append_entry(
        membership,
        kind=kind,
        source=source,
        idempotency_key=idempotency_key,
        actor=actor,
        points=0 if pending else points,
        pending_points=points if pending else 0,
        reason=reason,
        at=now,
        effective_at=earned_at,
        **links,
    )
    lot = PointLot.objects.create(
        membership=membership,
        earn_entry=entry,
        points=points,
        remaining=points,
        earned_at=entry.effective_at,
        available_at=available_at if pending else now,
        released_at=None if pending else now,
        expires_at=(
            lot_expiry(membership.program, entry.effective_at)
            if expires_at is BY_RULE
            else expires_at
        ),
    )
    if not pending:
        _settle_debt(entry, [lot])
    event_record(
        type=events.POINTS_AWARDED,
        membership=membership,
        data={
            "entry_id": entry.pk,
            "points": points,
            "pending": pending,
            "available_at": lot.available_at,
            "source": source,
            "reason": reason,
        },
        at=now,
    )
    return entry


def _settle_debt(entry: LedgerEntry, lots: list[PointLot]) -> None:
    """Points that became available while a negative balance was open paid it back first:
    ``append_entry`` netted the cached balance; take the same points out of the lots and
    record the draw against the crediting entry."""
    owed_before = max(0, entry.points - entry.balance_after)
    to_settle = min(owed_before, entry.points)
    changed, allocations = [], []
    for lot in lots:
        if to_settle == 0:
            break
        draw = min(lot.remaining, to_settle)
        if draw:
            lot.remaining -= draw
            to_settle -= draw
            changed.append(lot)
            allocations.append(LotAllocation(entry=entry, lot=lot, points=draw))
    if changed:
        PointLot.objects.bulk_update(changed, ["remaining"])
        LotAllocation.objects.bulk_create(allocations)


def available_lots(membership: Membership, now: datetime | None = None):
    now = now or timezone.now()
    lots = PointLot.objects.filter(
        membership=membership, released_at__isnull=False, expired_at__isnull=True, remaining__gt=0
    )
    if membership.program.redemption_order == RedemptionOrder.SOONEST_EXPIRING:
        return lots.order_by(F("expires_at").asc(nulls_last=True), "earned_at", "id")
    return lots.order_by("earned_at", "id")


def consume_lots(
    membership: Membership,
    entry: LedgerEntry,
    points: int,
    *,
    exclude: Iterable[int] = (),
) -> int:
    """Take up to ``points`` from the membership's available lots in the program's order,
    recording each draw against ``entry``. Returns how many points were taken."""
    taken = 0
    changed: list[PointLot] = []
    allocations: list[LotAllocation] = []
    for lot in available_lots(membership).exclude(pk__in=list(exclude)).iterator(chunk_size=200):
        if taken >= points:
            break
        draw = min(lot.remaining, points - taken)
        lot.remaining -= draw
        taken += draw
        changed.append(lot)
        allocations.append(LotAllocation(entry=entry, lot=lot, points=draw))
    if changed:
        PointLot.objects.bulk_update(changed, ["remaining"])
        LotAllocation.objects.bulk_create(allocations)
    return taken


def points_spend(
    membership: Membership,
    *,
    points: int,
    kind: str,
    source: str,
    idempotency_key: str,
    actor: Actor,
    reason: str = "",
    effective_at: datetime | None = None,
    **links,
) -> LedgerEntry:
    """Debit available points (redeem, negative adjustment), drawing on lots. The caller
    has checked that the balance covers ``points``."""
    entry = append_entry(
        membership,
        kind=kind,
        source=source,
        idempotency_key=idempotency_key,
        actor=actor,
        points=-points,
        reason=reason,
        effective_at=effective_at,
        **links,
    )
    taken = consume_lots(membership, entry, points)
    if taken != points:  # the caches and the lots disagree: never paper over it
        raise RuntimeError(
            f"membership {membership.pk}: lots held {taken} of {points} points to spend"
        )
    return entry


def points_restore(
    membership: Membership,
    *,
    kind: str,
    source: str,
    idempotency_key: str,
    actor: Actor,
    spent_entry: LedgerEntry | None = None,
    draws: list[tuple[PointLot, int]] | None = None,
    held_points: int = 0,
    reason: str = "",
    effective_at: datetime | None = None,
    **links,
) -> LedgerEntry:
    """Undo a spend: give the points back to the very lots they came from, all that
    ``spent_entry`` drew or the ``draws`` given (a lot and its points; a released hold also
    moves ``held_points``). Points that return to a lot that has meanwhile expired expire
    again at once."""
    if draws is None:
        draws = [(a.lot, a.points) for a in spent_entry.allocations.select_related("lot")]
    entry = append_entry(
        membership,
        kind=kind,
        source=source,
        idempotency_key=idempotency_key,
        actor=actor,
        points=sum(points for _lot, points in draws),
        held_points=held_points,
        reason=reason,
        effective_at=effective_at,
        **links,
    )
    now = timezone.now()
    lots = []
    for lot, points in draws:
        lot.remaining += points
        lots.append(lot)
    PointLot.objects.bulk_update(lots, ["remaining"])
    _settle_debt(entry, lots)
    lapsed = [lot for lot in lots if lot.expired_at or (lot.expires_at and lot.expires_at <= now)]
    for lot in lapsed:
        _expire_lot(membership, lot, key=f"{idempotency_key}:expire:{lot.pk}", now=now)
    return entry


def _expire_lot(membership: Membership, lot: PointLot, *, key: str, now: datetime) -> None:
    lot.refresh_from_db(fields=["remaining"])
    if lot.remaining <= 0:
        lot.expired_at = lot.expired_at or now
        lot.save(update_fields=["expired_at"])
        return
    entry = append_entry(
        membership,
        kind=EntryKind.EXPIRE,
        source=EntrySource.SYSTEM,
        idempotency_key=key,
        actor=Actor.system(),
        points=-lot.remaining,
        reason=f"lot {lot.pk}",
        at=now,
    )
    LotAllocation.objects.create(entry=entry, lot=lot, points=lot.remaining)
    lot.remaining = 0
    lot.expired_at = lot.expired_at or now
    lot.save(update_fields=["remaining", "expired_at"])


def lots_expire(membership: Membership, lots: Iterable[PointLot], now: datetime) -> int:
    """Expire these released lots of a locked membership: one expire entry per lot."""
    expired = 0
    for lot in lots:
        if lot.expired_at is not None:
            continue
        expired += lot.remaining
        _expire_lot(membership, lot, key=f"expire:lot:{lot.pk}", now=now)
    return expired


def lots_expire_many(
    memberships: dict[int, Membership], lots: QuerySet[PointLot], now: datetime
) -> int:
    """Expire released lots of several locked memberships, set-based: the same entries,
    allocations, lot updates and balance caches as ``lots_expire`` per lot (lots of one
    membership in id order, each entry with the running balance after it), written with one
    statement per table. ``lots`` is read here, so under the memberships' locks; only the
    lot columns the entries need are loaded, no model instances."""
    due = (
        lots.filter(expired_at__isnull=True, remaining__gt=0)
        .order_by("pk")
        .values_list("pk", "membership_id", "remaining")
    )
    due = list(due)
    if not due:
        return 0
    postings = Postings(expected=len(due))
    allocations = []
    for lot_id, membership_id, remaining in due:
        posted = postings.post(
            memberships[membership_id],
            kind=EntryKind.EXPIRE,
            source=EntrySource.SYSTEM,
            idempotency_key=f"expire:lot:{lot_id}",
            actor=Actor.system(),
            points=-remaining,
            reason=f"lot {lot_id}",
            at=now,
        )
        allocations.append((posted.id, lot_id, remaining))
    postings.write()
    rows_insert_values(LotAllocation, ["entry_id", "lot_id", "points"], allocations)
    expired = [(lot_id, remaining) for lot_id, _membership_id, remaining in due]
    PointLot.objects.filter(pk__in=[lot_id for lot_id, _points in expired]).update(
        remaining=0, expired_at=now
    )
    return sum(points for _lot_id, points in expired)


def membership_expire_overdue(membership: Membership, now: datetime | None = None) -> int:
    """Expire a locked membership's lots that are past their date but not yet processed by
    the nightly job, so that a redemption never spends points that have lapsed."""
    now = now or timezone.now()
    overdue = PointLot.objects.filter(
        membership=membership,
        released_at__isnull=False,
        expired_at__isnull=True,
        remaining__gt=0,
        expires_at__lte=now,
    ).order_by("pk")
    return lots_expire(membership, list(overdue), now)


def lots_release(membership: Membership, lots: Iterable[PointLot], now: datetime) -> int:
    """Move pending lots whose return window has passed into the available balance."""
    released = 0
    for lot in lots:
        if lot.released_at is not None:
            continue
        lot.released_at = now
        if lot.remaining > 0:
            entry = append_entry(
                membership,
                kind=EntryKind.RELEASE,
                source=lot.earn_entry.source,
                idempotency_key=f"release:lot:{lot.pk}",
                actor=Actor.system(),
                points=lot.remaining,
                pending_points=-lot.remaining,
                at=now,
                purchase_id=lot.earn_entry.purchase_id,
                referral_id=lot.earn_entry.referral_id,
                action_event_id=lot.earn_entry.action_event_id,
            )
            released += lot.remaining
            lot.save(update_fields=["released_at"])
            _settle_debt(entry, [lot])
        else:
            lot.save(update_fields=["released_at"])
    return released
