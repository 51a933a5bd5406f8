"""Returns of a purchase: the refund recorded once per refund id, and the points it takes
away reversed as the program's return policy says (a returned line gives back its share,
an amount-only refund the refunded fraction)."""

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from django.db import transaction
from django.utils import timezone

from programs.errors import (
    IdempotencyConflict,
    InvalidAmount,
    PurchaseFailed,
    RefundExceedsPurchase,
)
from programs.models import (
    EntryKind,
    PointLot,
    Purchase,
    PurchaseLine,
    PurchaseStatus,
    Refund,
)
from programs.services.hold_refunds import order_holds_refund
from programs.services.ledger import Actor
from programs.services.locking import lock_memberships
from programs.services.purchases import money_check, purchases_award
from programs.services.referrals import referral_on_return
from programs.services.returns import points_reverse
from programs.services.tiers import (
    membership_subscription_after_refund,
    membership_tier_after_return,
)


def _reversal_target(purchase: Purchase, lines: list[PurchaseLine]) -> int:
    """Points that should have been reversed in total after the refunds so far: each
    returned line gives back its share; an amount-only refund gives back the refunded
    fraction of the whole. Rounded down, so the customer never loses a point too many,
    and exactly everything once the purchase is fully refunded."""
    awarded = purchase.points_awarded or 0
    if purchase.refunded_amount >= purchase.amount:
        return awarded
    by_lines = sum(
        (li.points * li.refunded_quantity / li.quantity for li in lines if li.refunded_quantity),
        Decimal(0),
    )
    line_refunded = sum(
        (li.unit_price * li.refunded_quantity for li in lines if li.refunded_quantity), Decimal(0)
    )
    other = purchase.refunded_amount - line_refunded
    by_amount = Decimal(awarded) * other / purchase.amount if other > 0 else Decimal(0)
    target = int((by_lines + by_amount).to_integral_value(rounding=ROUND_DOWN))
    return min(target, awarded)


@dataclass(frozen=True)
class RefundLine:
    line_no: int
    quantity: int


def purchase_refund(
    *,
    purchase: Purchase,
    refund_id: str,
    amount: Decimal | None = None,
    lines: Sequence[RefundLine] = (),
    actor: Actor,
) -> tuple[Refund, bool]:
    """Record a (partial) return and reverse the points it takes away, per the program's
    return policy; points the order was paid with come back pro rata
    (``hold_refunds.order_holds_refund``). Idempotent on (purchase, refund_id): the same request
    again returns the first refund, the same id with other lines or amount is an
    ``IdempotencyConflict``. Give either returned ``lines`` (their value is the refunded
    amount) or an ``amount``. A
    qualifying purchase of a referral returned below the minimum rejects the referral.
    A purchase parked as failed is refused (``PurchaseFailed``): its points were never
    awarded, so a return could not take them back when staff award it again."""
    if purchase.status == PurchaseStatus.RECEIVED:
        purchases_award([purchase.pk])
    with transaction.atomic():
        membership = lock_memberships([purchase.membership_id])[purchase.membership_id]
        purchase = Purchase.objects.select_for_update().get(pk=purchase.pk)
        if purchase.status == PurchaseStatus.FAILED:
            raise PurchaseFailed(
                f"Purchase {purchase.pk} failed to be awarded ({purchase.failure_reason}); "
                "return it once staff have awarded it again.",
                field="purchase",
            )
        existing = Refund.objects.filter(purchase=purchase, refund_id=refund_id).first()
        if existing:
            if not _same_refund(existing, amount, lines):
                raise IdempotencyConflict(
                    f"Refund {refund_id} was already recorded with other data.",
                    field="refund_id",
                )
            return existing, False
        all_lines = {li.line_no: li for li in purchase.lines.order_by("line_no")}
        line_amount = Decimal(0)
        for item in lines:
            line = all_lines.get(item.line_no)
            if line is None:
                raise InvalidAmount(f"Purchase has no line {item.line_no}.", field="lines")
            if item.quantity <= 0 or line.refunded_quantity + item.quantity > line.quantity:
                raise RefundExceedsPurchase(
                    f"Line {item.line_no}: {line.quantity - line.refunded_quantity} "
                    "left to return.",
                    field="lines",
                )
            line.refunded_quantity += item.quantity
            line_amount += line.unit_price * item.quantity
        if lines and amount is not None and amount != line_amount:
            raise InvalidAmount(
                f"The returned lines are worth {line_amount}, not {amount}.", field="amount"
            )
        refund_amount = line_amount if lines else amount
        if refund_amount is None:
            raise InvalidAmount("Give the returned lines or an amount.", field="amount")
        money_check(refund_amount, purchase.currency)
        if purchase.refunded_amount + refund_amount > purchase.amount:
            raise RefundExceedsPurchase(
                f"Only {purchase.amount - purchase.refunded_amount} {purchase.currency} "
                "are left to refund.",
                field="amount",
            )
        purchase.refunded_amount += refund_amount
        if lines:
            PurchaseLine.objects.bulk_update(
                [all_lines[item.line_no] for item in lines], ["refunded_quantity"]
            )
        refund = Refund.objects.create(
            purchase=purchase,
            refund_id=refund_id,
            amount=refund_amount,
            lines=[{"line_no": i.line_no, "quantity": i.quantity} for i in lines],
        )
        due = _reversal_target(purchase, list(all_lines.values())) - purchase.points_reversed
        reversed_points = 0
        if due > 0 and purchase.status == PurchaseStatus.AWARDED:
            reversed_points = points_reverse(
                membership,
                lot=PointLot.objects.filter(
                    earn_entry__purchase=purchase, earn_entry__kind=EntryKind.EARN
                ).first(),
                points=due,
                idempotency_key=f"refund:{refund.pk}:reverse",
                actor=actor,
                reason=f"return {refund.refund_id} of order {purchase.order_id}",
                effective_at=purchase.occurred_at,  # counts in the purchase's period
                purchase=purchase,
            )
        refund.points_reversed = reversed_points
        refund.save(update_fields=["points_reversed"])
        # Points the policy let the customer keep are never reclaimed by a later refund (only
        # when a cancelled redemption brings them back: ``returns.returned_points_reclaim``).
        purchase.points_reversed += due if due > 0 else 0
        purchase.save(update_fields=["refunded_amount", "points_reversed"])
        # Points the member paid part of this order with come back pro rata.
        order_holds_refund(membership=membership, purchase=purchase, refund=refund, actor=actor)
        referral_on_return(membership, purchase, actor)
        membership_subscription_after_refund(membership, purchase, timezone.now())
        membership_tier_after_return(membership, timezone.now())
    return refund, True


def _same_refund(existing: Refund, amount: Decimal | None, lines: Sequence[RefundLine]) -> bool:
    """A repeated refund id is a replay only with the same request: the same lines, and the
    same amount where one is given."""
    asked = [{"line_no": i.line_no, "quantity": i.quantity} for i in lines]
    if asked != existing.lines:
        return False
    return amount == existing.amount or (amount is None and bool(lines))
