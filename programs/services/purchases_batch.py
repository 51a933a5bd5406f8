"""Recording many purchases at once (the API's batch endpoint): set-based, with exactly the
answers ``purchases.purchase_record`` gives one by one.

Per item, in request order, the same checks as ``purchase_record`` in the same order (so the
same error for the same item), then idempotency on (partner, order id): an order already
stored, or earlier in the same batch, with the same member, amount and currency is a
``duplicate`` answered with the stored purchase; with other data an ``IdempotencyConflict``.

The cost does not grow with queries per item: one query for the partner's programs, one
for the earn rules and one for the campaigns of all programs involved, one for the order
ids already stored, one bulk insert of purchases and one of lines, and one award task for
all new purchases after the commit. If another request inserts one of the order ids in
the meantime, the unique constraint stops the bulk insert and the batch falls back to
``purchase_record`` per item, which settles each race as a single request would.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from loyalty_site.commit import enqueue_after_commit
from programs.earning import LineInput, purchase_points
from programs.errors import (
    CurrencyMismatch,
    IdempotencyConflict,
    InvalidAmount,
    LoyaltyError,
    MembershipInactive,
    ProgramMismatch,
)
from programs.models import (
    Campaign,
    EarnRule,
    Membership,
    MembershipStatus,
    Partner,
    Purchase,
    PurchaseLine,
)
from programs.services.purchases import MAX_FUTURE_SKEW, LineData, money_check, purchase_record


@dataclass(frozen=True)
class PurchaseItem:
    """One purchase of a batch, as ``purchase_record`` takes it."""

    membership: Membership
    order_id: str
    amount: Decimal
    currency: str
    occurred_at: datetime
    lines: Sequence[LineData] = ()
    payment_fingerprint: str = ""
    device_id: str = ""
    ip_address: str | None = None


@dataclass
class PurchaseOutcome:
    """The answer for one item: the purchase and whether it is new, or the error."""

    purchase: Purchase | None = None
    created: bool = False
    error: LoyaltyError | None = None


@dataclass
class _Pending:
    index: int
    item: PurchaseItem
    purchase: Purchase
    lines: list[PurchaseLine] = field(default_factory=list)


def _check(item: PurchaseItem, program_ids: set[int], now: datetime) -> None:
    """``purchase_record``'s checks, in its order, with its errors."""
    membership = item.membership
    program = membership.program
    if membership.status != MembershipStatus.ACTIVE:
        raise MembershipInactive()
    if program.pk not in program_ids:
        raise ProgramMismatch()
    if item.currency != program.currency:
        raise CurrencyMismatch(
            f"This program counts in {program.currency}; the purchase is in {item.currency}.",
            field="currency",
        )
    money_check(item.amount, item.currency)
    if item.occurred_at > now + MAX_FUTURE_SKEW:
        raise InvalidAmount("occurred_at lies in the future.", field="occurred_at")
    for line in item.lines:
        money_check(line.unit_price, item.currency, field="unit_price", allow_zero=True)
        if line.quantity <= 0:
            raise InvalidAmount("quantity must be at least 1.", field="quantity")
    total = sum((line.amount for line in item.lines), Decimal(0))
    if item.lines and total != item.amount:
        raise InvalidAmount(
            f"The lines add up to {total} but the amount is {item.amount}; they must match.",
            field="lines",
        )


def _same(purchase: Purchase, item: PurchaseItem) -> bool:
    return (
        purchase.membership_id == item.membership.pk
        and purchase.amount == item.amount
        and purchase.currency == item.currency
    )


def _conflict(order_id: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        f"Order {order_id} was already recorded with other data.", field="order_id"
    )


def purchases_record_many(
    *, partner: Partner, items: Sequence[PurchaseItem]
) -> list[PurchaseOutcome]:
    """Record ``items`` for ``partner``; one outcome per item, in order. Valid items are
    stored in one transaction; their awards are enqueued together after the commit."""
    outcomes = [PurchaseOutcome() for _ in items]
    if not items:
        return outcomes
    now = timezone.now()
    program_ids = set(partner.programs.values_list("pk", flat=True))
    valid: list[int] = []
    for index, item in enumerate(items):
        try:
            _check(item, program_ids, now)
        except LoyaltyError as exc:
            outcomes[index].error = exc
        else:
            valid.append(index)

    stored = {
        p.order_id: p
        for p in Purchase.objects.filter(
            partner=partner, order_id__in={items[i].order_id for i in valid}
        )
    }
    used = {items[i].membership.program_id for i in valid}
    rules, campaigns = defaultdict(list), defaultdict(list)
    for rule in EarnRule.objects.filter(program_id__in=used, is_active=True):
        rules[rule.program_id].append(rule)
    for campaign in Campaign.objects.filter(program_id__in=used, is_active=True):
        campaigns[campaign.program_id].append(campaign)

    pending: list[_Pending] = []
    first: dict[str, _Pending] = {}  # order id -> the item of this batch that stores it
    for index in valid:
        item = items[index]
        earlier = stored.get(item.order_id) or (
            first[item.order_id].purchase if item.order_id in first else None
        )
        if earlier is not None:
            if _same(earlier, item):
                outcomes[index].purchase = earlier
            else:
                outcomes[index].error = _conflict(item.order_id)
            continue
        membership, program = item.membership, item.membership.program
        expected = purchase_points(
            program=program,
            amount=item.amount,
            lines=[
                LineInput(amount=li.amount, category=li.category, sku=li.sku) for li in item.lines
            ],
            occurred_at=item.occurred_at,
            tier_multiplier=membership.tier.earn_multiplier if membership.tier else Decimal(1),
            rules=rules[program.pk],
            campaigns=campaigns[program.pk],
        ).total
        purchase = Purchase(
            program=program,
            membership=membership,
            partner=partner,
            order_id=item.order_id,
            amount=item.amount,
            currency=item.currency,
            occurred_at=item.occurred_at,
            points_expected=expected,
            payment_fingerprint=item.payment_fingerprint,
            device_id=item.device_id,
            ip_address=item.ip_address,
        )
        first[item.order_id] = entry = _Pending(index=index, item=item, purchase=purchase)
        pending.append(entry)

    try:
        with transaction.atomic():
            created = _insert(pending)
    except IntegrityError:
        # Another request stored one of these order ids meanwhile: settle item by item.
        return _one_by_one(partner, items, outcomes)
    for entry in pending:  # (duplicates within the batch hold the same, now saved, object)
        outcomes[entry.index].purchase, outcomes[entry.index].created = entry.purchase, True
    if created:
        from programs.tasks import award_purchases_task

        enqueue_after_commit(award_purchases_task, created)  # a broker outage: the sweeper
    return outcomes


def _insert(pending: list[_Pending]) -> list[int]:
    purchases = Purchase.objects.bulk_create([entry.purchase for entry in pending])
    lines = []
    for entry, purchase in zip(pending, purchases, strict=True):
        lines.extend(
            PurchaseLine(
                purchase=purchase,
                line_no=number,
                sku=line.sku,
                category=line.category,
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
            )
            for number, line in enumerate(entry.item.lines, start=1)
        )
    PurchaseLine.objects.bulk_create(lines)
    return [p.pk for p in purchases]


def _one_by_one(
    partner: Partner, items: Sequence[PurchaseItem], outcomes: list[PurchaseOutcome]
) -> list[PurchaseOutcome]:
    for index, item in enumerate(items):
        if outcomes[index].error is not None:
            continue
        try:
            purchase, created = purchase_record(
                partner=partner,
                membership=item.membership,
                order_id=item.order_id,
                amount=item.amount,
                currency=item.currency,
                occurred_at=item.occurred_at,
                lines=item.lines,
                payment_fingerprint=item.payment_fingerprint,
                device_id=item.device_id,
                ip_address=item.ip_address,
            )
        except LoyaltyError as exc:
            outcomes[index] = PurchaseOutcome(error=exc)
        else:
            outcomes[index] = PurchaseOutcome(purchase=purchase, created=created)
    return outcomes
