"""Paying with points at a till: a two-phase debit. The till asks for a quote, places a
hold (the points are reserved, not spent), then captures all or part of it or voids it;
a hold not captured by ``expires_at`` is released by ``holds_expire_due``.

Points and money (``hold_quotes``): an amount takes ceil(amount / point value) points
(the merchant never gets less than the amount); points are worth floor(points x point
value) to the cent.

In the ledger (``postings``: held points are out of the available balance):

* the hold posts a ``hold`` entry, points -N and held_points +N, and takes the N points
  out of the lots in the program's order, as a redemption would (its allocations say from
  which lots). Held points are thus never expired from under a hold: they are not in a lot.
* a capture of C <= N posts a ``capture`` entry, held_points -C, whose allocations are the
  first C points the hold drew; the other N - C go back to the last lots drawn, in a
  ``hold_release`` entry (points +R, held_points -R).
* a void or the expiry releases all N the same way. Points that go back to a lot which
  expired meanwhile expire at once; points of a purchase returned meanwhile are taken
  back (as when a redemption is cancelled).
* a refund of the order the hold paid for gives the captured points back pro rata
  (``hold_refunds``).

Every function locks the membership first (``locking``), then the hold.
"""

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from loyalty_site.core.batches import each_apply
from programs.errors import (
    CaptureExceedsHold,
    HoldExpired,
    HoldNotHeld,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidAmount,
    MembershipInactive,
    NegativeBalance,
    ProgramMismatch,
)
from programs.limits import MAX_POINTS
from programs.models import (
    EntryKind,
    EntrySource,
    HoldStatus,
    LotAllocation,
    Membership,
    MembershipStatus,
    Partner,
    PointsHold,
)
from programs.services import events
from programs.services.events import event_record
from programs.services.hold_quotes import amount_for_points, payment_check, points_for_amount
from programs.services.ledger import (
    Actor,
    append_entry,
    consume_lots,
    membership_expire_overdue,
    points_restore,
)
from programs.services.locking import lock_membership
from programs.services.purchases import money_check
from programs.services.returns import returned_points_reclaim
from programs.services.tiers import membership_tier_after_return

MAX_HOLD_MINUTES = 24 * 60
EXPIRE_CHUNK = 500


def _same_hold(hold: PointsHold, membership, amount, currency, order_reference) -> bool:
    return (hold.membership_id, hold.amount, hold.currency, hold.order_reference) == (
        membership.pk,
        amount,
        currency,
        order_reference,
    )


def _reason(hold: PointsHold, what: str) -> str:
    return f"{what}, order {hold.order_reference}" if hold.order_reference else what


def _event(type: str, membership: Membership, hold: PointsHold) -> None:
    """``hold.captured`` / ``hold.voided`` (also on expiry), for the hold's partner only."""
    event_record(
        type=type,
        membership=membership,
        data={
            "partner_id": hold.partner_id,
            "hold_id": hold.pk,
            "status": hold.status,
            "order_reference": hold.order_reference,
            "points": hold.points,
            "points_captured": hold.points_captured,
            "amount": hold.amount,
            "captured_amount": hold.captured_amount,
            "currency": hold.currency,
        },
    )


def hold_place(
    *,
    membership: Membership,
    partner: Partner,
    amount: Decimal,
    idempotency_key: str,
    currency: str | None = None,
    order_reference: str = "",
    expires_in: timedelta | None = None,
) -> tuple[PointsHold, bool]:
    """Reserve the points that pay ``amount`` until captured, voided or expired (after
    ``expires_in``, default ``POINTS_HOLD_MINUTES``). Never more than the available
    balance (``InsufficientPoints``). Idempotent on (partner, ``idempotency_key``): the
    same request again returns the first hold (and False), another request under the key
    is an ``IdempotencyConflict``."""
    with transaction.atomic():
        membership = lock_membership(membership.pk)
        currency = payment_check(membership, amount, currency)
        key = {"partner": partner, "idempotency_key": idempotency_key}
        existing = PointsHold.objects.filter(**key).first()
        if existing is None and not partner.programs.filter(pk=membership.program_id).exists():
            raise ProgramMismatch()
        point_value = Decimal(membership.program.point_value)  # a str on a program just made
        points = points_for_amount(amount, point_value)
        now = timezone.now()
        if existing is None:
            try:
                with transaction.atomic():
                    hold = PointsHold.objects.create(
                        membership=membership,
                        amount=amount,
                        currency=currency,
                        point_value=point_value,
                        points=points,
                        order_reference=order_reference,
                        created_at=now,
                        expires_at=now
                        + (expires_in or timedelta(minutes=settings.POINTS_HOLD_MINUTES)),
                        **key,
                    )
            except IntegrityError:  # the same key, placed for another member meanwhile
                existing = PointsHold.objects.get(**key)
        if existing is not None:
            if not _same_hold(existing, membership, amount, currency, order_reference):
                raise IdempotencyConflict(
                    f"The key {idempotency_key} was already used for another hold.",
                    field="idempotency_key",
                )
            return existing, False
        membership_expire_overdue(membership, now)  # lapsed points are never held
        if membership.debt:
            raise NegativeBalance()
        if points > min(membership.balance, MAX_POINTS):
            raise InsufficientPoints(
                format_lazy(
                    _(
                        "Paying {amount} {currency} takes {points} points; {available} are "
                        "available."
                    ),
                    amount=amount,
                    currency=currency,
                    points=points,
                    available=membership.balance,
                ),
                needed=points,
                available=membership.balance,
            )
        entry = append_entry(
            membership,
            kind=EntryKind.HOLD,
            source=EntrySource.PAYMENT,
            idempotency_key=f"hold:{hold.pk}:place",
            actor=Actor.for_partner(partner),
            points=-points,
            held_points=points,
            reason=_reason(hold, "hold"),
            at=now,
            hold=hold,
        )
        if consume_lots(membership, entry, points) != points:  # caches and lots disagree
            raise RuntimeError(f"membership {membership.pk}: lots short of {points} to hold")
        membership.last_activity_at = now
        membership.save(update_fields=["last_activity_at", "updated_at"])
    return hold, True


def _hold_locked(hold: PointsHold) -> tuple[Membership, PointsHold]:
    membership = lock_membership(hold.membership_id)
    return membership, PointsHold.objects.select_for_update().get(pk=hold.pk)


def _hold_draws(hold: PointsHold, first: int) -> tuple[list, list]:
    """The hold's draws from the lots (lot, points) split after the ``first`` points,
    in the order they were drawn."""
    entry = hold.entries.get(kind=EntryKind.HOLD)
    head, tail = [], []
    for allocation in entry.allocations.select_related("lot").order_by("pk"):
        take = min(allocation.points, first)
        first -= take
        if take:
            head.append((allocation.lot, take))
        if allocation.points > take:
            tail.append((allocation.lot, allocation.points - take))
    return head, tail


def _release(membership: Membership, hold: PointsHold, draws: list, actor: Actor, what: str):
    """Give held ``draws`` back to their lots; take back points of returned purchases."""
    points = sum(points for _lot, points in draws)
    if not points:
        return
    points_restore(
        membership,
        draws=draws,
        kind=EntryKind.HOLD_RELEASE,
        source=EntrySource.PAYMENT,
        idempotency_key=f"hold:{hold.pk}:release",
        actor=actor,
        held_points=-points,
        reason=_reason(hold, what),
        hold=hold,
    )
    if returned_points_reclaim(
        membership,
        spent_entry=hold.entries.get(kind=EntryKind.HOLD),
        idempotency_key=f"hold:{hold.pk}:release:reverse",
        actor=actor,
    ):
        membership_tier_after_return(membership, timezone.now())


def _capture_size(hold: PointsHold, points: int | None, amount: Decimal | None):
    if points is not None and amount is not None:
        raise InvalidAmount("Give the points or the amount to capture, not both.", field="points")
    if amount is not None:
        money_check(amount, hold.currency)
        if amount > hold.amount:
            raise CaptureExceedsHold(
                f"The hold pays {hold.amount} {hold.currency}; {amount} is more.", field="amount"
            )
        return points_for_amount(amount, hold.point_value), amount
    if points is None or points == hold.points:
        return hold.points, hold.amount
    if points <= 0:
        raise InvalidAmount("Capture at least one point.", field="points")
    if points > hold.points:
        raise CaptureExceedsHold(
            f"The hold reserved {hold.points} points; {points} is more.", field="points"
        )
    worth = amount_for_points(points, hold.point_value, hold.currency)
    return points, min(worth, hold.amount)


def hold_capture(
    *, hold: PointsHold, points: int | None = None, amount: Decimal | None = None
) -> PointsHold:
    """Spend the held points that pay ``amount`` (or ``points``; default: all) and release
    the rest. Refused once the hold has expired (``HoldExpired``) or is no longer held
    (``HoldNotHeld``); the same capture again returns the captured hold."""
    with transaction.atomic():
        membership, hold = _hold_locked(hold)
        wanted, worth = _capture_size(hold, points, amount)
        if hold.status == HoldStatus.CAPTURED and hold.points_captured == wanted:
            return hold
        now = timezone.now()
        if hold.status == HoldStatus.EXPIRED or (
            hold.status == HoldStatus.HELD and hold.expires_at <= now
        ):
            raise HoldExpired(
                f"The hold expired at {hold.expires_at.isoformat()}; place a new hold."
            )
        if hold.status != HoldStatus.HELD:
            raise HoldNotHeld(f"This hold is {hold.status}; it reserves no points.")
        if membership.status != MembershipStatus.ACTIVE:
            raise MembershipInactive()
        actor = Actor.for_partner_id(hold.partner_id)
        captured, released = _hold_draws(hold, wanted)
        entry = append_entry(
            membership,
            kind=EntryKind.CAPTURE,
            source=EntrySource.PAYMENT,
            idempotency_key=f"hold:{hold.pk}:capture",
            actor=actor,
            held_points=-wanted,
            reason=_reason(hold, "paid with points"),
            at=now,
            hold=hold,
        )
        LotAllocation.objects.bulk_create(
            [LotAllocation(entry=entry, lot=lot, points=points) for lot, points in captured]
        )
        _release(membership, hold, released, actor, "rest of hold released")
        hold.status, hold.captured_at = HoldStatus.CAPTURED, now
        hold.points_captured, hold.captured_amount = wanted, worth
        hold.save(update_fields=["status", "captured_at", "points_captured", "captured_amount"])
        _event(events.HOLD_CAPTURED, membership, hold)
        membership.last_activity_at = now
        membership.save(update_fields=["last_activity_at", "updated_at"])
    return hold


def hold_void(*, hold: PointsHold) -> PointsHold:
    """Release all held points. Voiding again, or a hold that expired, changes nothing;
    a captured hold cannot be voided (``HoldNotHeld``: refund the order instead)."""
    with transaction.atomic():
        membership, hold = _hold_locked(hold)
        if hold.status in (HoldStatus.VOIDED, HoldStatus.EXPIRED):
            return hold
        if hold.status == HoldStatus.CAPTURED:
            raise HoldNotHeld("This hold was captured; refund the order to give the points back.")
        _release(
            membership,
            hold,
            _hold_draws(hold, 0)[1],
            Actor.for_partner_id(hold.partner_id),
            "hold voided",
        )
        hold.status, hold.voided_at = HoldStatus.VOIDED, timezone.now()
        hold.save(update_fields=["status", "voided_at"])
        _event(events.HOLD_VOIDED, membership, hold)
    return hold


def _hold_expire(hold_id: int, membership_id: int, now: datetime) -> int:
    with transaction.atomic():
        membership = lock_membership(membership_id)
        hold = (
            PointsHold.objects.select_for_update()
            .filter(pk=hold_id, status=HoldStatus.HELD, expires_at__lte=now)
            .first()
        )
        if hold is None:  # captured or voided meanwhile
            return 0
        _release(membership, hold, _hold_draws(hold, 0)[1], Actor.system(), "hold expired")
        hold.status, hold.expired_at = HoldStatus.EXPIRED, now
        hold.save(update_fields=["status", "expired_at"])
        _event(events.HOLD_VOIDED, membership, hold)
    return 1


def holds_expire_due(now: datetime | None = None) -> int:
    """Release every hold past its ``expires_at``, each in its own transaction; one that
    fails is logged and left for the next run, the others go on."""
    now = now or timezone.now()
    due = (
        PointsHold.objects.filter(status=HoldStatus.HELD, expires_at__lte=now)
        .order_by("expires_at", "pk")
        .values_list("pk", "membership_id")
    )
    results = each_apply(
        due.iterator(chunk_size=EXPIRE_CHUNK),
        lambda row: _hold_expire(row[0], row[1], now),
        lambda row, error: 0,  # logged by each_apply; still held, so tried again next run
    )
    return sum(results)
