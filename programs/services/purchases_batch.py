"""Recording many purchases at once (the API's batch endpoint): set-based, with exactly the
answers ``purchases.purchase_record`` gives one by one.

Per item, in request order, ``purchases.purchase_check`` (the checks of a single purchase,
so the same error for the same item), then idempotency on (partner, order id): an order
already stored, or earlier in the same batch, with the same member, amount and currency is
a ``duplicate`` answered with the stored purchase; with other data an
``IdempotencyConflict``.

The cost does not grow with queries per item: one insert of all new purchases from arrays
(``ON CONFLICT DO NOTHING``: the unique constraint tells which order ids were stored
already, also by a concurrent request), one insert of their lines, one read of the
purchases stored before (only if there are any), and one award task for all new purchases
after the commit. Earn rules and campaigns come from ``purchases.program_earning``
(cached).
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from loyalty_site.core.commit import enqueue_after_commit
from loyalty_site.core.conflicts import retry_on_conflict
from programs.errors import IdempotencyConflict, LoyaltyError
from programs.models import Membership, Partner, Purchase, PurchaseStatus
from programs.services.account_spending import account_purchase_check
from programs.services.awarding import AWARD_TASK
from programs.services.purchases import (
    LineData,
    partner_program_ids,
    program_earning,
    purchase_check,
    purchase_expected_points,
)


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
    po_reference: str = ""
    # set by ``purchases_record_many`` for a member who pools into a shared account
    placed_by: Membership | None = None


@dataclass
class PurchaseOutcome:
    """The answer for one item: the purchase and whether it is new, or the error."""

    purchase: Purchase | None = None
    created: bool = False
    error: LoyaltyError | None = None


def _pooled(items: Sequence[PurchaseItem]) -> list[PurchaseItem]:
    """The items of members who pool into a shared account, recorded on the account's
    holder with the member as ``placed_by`` (one query for all holders)."""
    pools = {item.membership.pool_id for item in items if item.membership.pool_id}
    if not pools:
        return list(items)
    holders = Membership.objects.select_related("program", "tier").in_bulk(pools)
    return [
        replace(item, membership=holders[item.membership.pool_id], placed_by=item.membership)
        if item.membership.pool_id
        else item
        for item in items
    ]


def _same(purchase: Purchase, item: PurchaseItem) -> bool:
    member = item.placed_by or item.membership  # as ``purchases._same_purchase``
    return (
        member.pk in (purchase.membership_id, purchase.placed_by_id)
        and purchase.amount == item.amount
        and purchase.currency == item.currency
    )


def _conflict(order_id: str) -> IdempotencyConflict:
    return IdempotencyConflict(
        f"Order {order_id} was already recorded with other data.", field="order_id"
    )


def purchases_record_many(
    *, partner: Partner, items: Sequence[PurchaseItem], award: bool = True
) -> list[PurchaseOutcome]:
    """Record ``items`` for ``partner``; one outcome per item, in order. Valid items are
    stored in one transaction; their awards are enqueued together after the commit.
    ``award=False`` (imported history) stores them as processed with no points: they count
    toward tiers and metrics, and nothing is enqueued."""
    outcomes = [PurchaseOutcome() for _ in items]
    if not items:
        return outcomes
    now = timezone.now()
    program_ids = partner_program_ids(partner)
    items = _pooled(items)
    first: dict[str, int] = {}  # order id -> index of the item that may store it
    for index, item in enumerate(items):
        try:
            if item.placed_by is not None:
                account_purchase_check(item.membership, item.po_reference)
            purchase_check(
                membership=item.membership,
                program_ids=program_ids,
                amount=item.amount,
                currency=item.currency,
                occurred_at=item.occurred_at,
                lines=item.lines,
                now=now,
            )
        except LoyaltyError as exc:
            outcomes[index].error = exc
        else:
            first.setdefault(item.order_id, index)

    earning = {}  # per program, read once per batch
    for index in first.values():
        program = items[index].membership.program
        if program.pk not in earning:
            earning[program.pk] = program_earning(program)
    new = {
        order_id: _purchase(partner, items[index], now, earning)
        for order_id, index in first.items()
    }
    stored = _store(partner, new, {o: items[i].lines for o, i in first.items()}, award)

    created = []
    for index, item in enumerate(items):
        if outcomes[index].error is not None:
            continue
        earlier = stored.get(item.order_id)
        if earlier is None:  # stored now, by this item or an earlier one of the batch
            outcomes[index].purchase = new[item.order_id]
            if first[item.order_id] == index:
                outcomes[index].created = True
                created.append(new[item.order_id].pk)
                continue
            earlier = new[item.order_id]
        if _same(earlier, item):
            outcomes[index].purchase = earlier
        else:
            outcomes[index] = PurchaseOutcome(error=_conflict(item.order_id))
    if created and award:
        enqueue_after_commit(AWARD_TASK, created)  # a broker outage: the sweeper
    return outcomes


def _purchase(partner: Partner, item: PurchaseItem, now: datetime, earning: dict) -> Purchase:
    membership = item.membership
    return Purchase(
        program=membership.program,
        membership=membership,
        partner=partner,
        order_id=item.order_id,
        amount=item.amount,
        currency=item.currency,
        occurred_at=item.occurred_at,
        points_expected=purchase_expected_points(
            membership=membership,
            amount=item.amount,
            occurred_at=item.occurred_at,
            lines=item.lines,
            earning=earning[membership.program_id],
            partner_id=partner.pk,
        ),
        payment_fingerprint=item.payment_fingerprint,
        device_id=item.device_id,
        ip_address=item.ip_address,
        received_at=now,
        placed_by=item.placed_by,
        po_reference=item.po_reference,
    )


@retry_on_conflict
@transaction.atomic
def _store(
    partner: Partner,
    new: dict[str, Purchase],
    lines: dict[str, Sequence[LineData]],
    award: bool = True,
) -> dict[str, Purchase]:
    """Insert the purchases of ``new`` whose order id is not stored yet (setting their
    ids) with their lines; return the purchases stored before under the other order ids.
    One transaction, tried again after a deadlock (``retry_on_conflict``)."""
    stored = set(new) - _insert(partner, new, award)
    rows = [
        (new[order_id].pk, number, line)
        for order_id in new
        if order_id not in stored
        for number, line in enumerate(lines[order_id], start=1)
    ]
    _insert_lines(rows)
    if not stored:
        return {}
    return {p.order_id: p for p in Purchase.objects.filter(partner=partner, order_id__in=stored)}


_PURCHASE_INSERT = """
INSERT INTO programs_purchase (
    partner_id, program_id, membership_id, order_id, amount, currency, occurred_at,
    points_expected, payment_fingerprint, device_id, ip_address, received_at,
    placed_by_id, po_reference,
    status, status_reason, points_awarded, breakdown, refunded_amount, points_reversed,
    processed_at
)
SELECT %s, t.*, %s, '', %s::integer, %s::jsonb, 0, 0, %s::timestamptz
FROM unnest(
    %s::bigint[], %s::bigint[], %s::varchar[], %s::numeric[], %s::varchar[],
    %s::timestamptz[], %s::integer[], %s::varchar[], %s::varchar[], %s::inet[],
    %s::timestamptz[], %s::bigint[], %s::varchar[]
) AS t
ON CONFLICT (partner_id, order_id) DO NOTHING
RETURNING id, order_id
"""


def _insert(partner: Partner, new: dict[str, Purchase], award: bool = True) -> set[str]:
    """One statement for all purchases (Django's ``bulk_create`` spends more time adapting
    the values of 1,000 purchases than PostgreSQL spends storing them). Returns the order
    ids inserted; the unique constraint skips the others."""
    purchases = list(new.values())
    columns = [
        [p.program_id for p in purchases],
        [p.membership_id for p in purchases],
        [p.order_id for p in purchases],
        [p.amount for p in purchases],
        [p.currency for p in purchases],
        [p.occurred_at for p in purchases],
        [p.points_expected for p in purchases],
        [p.payment_fingerprint for p in purchases],
        [p.device_id for p in purchases],
        [p.ip_address for p in purchases],
        [p.received_at for p in purchases],
        [p.placed_by_id for p in purchases],
        [p.po_reference for p in purchases],
    ]
    with connection.cursor() as cursor:
        if award:
            state = [PurchaseStatus.RECEIVED.value, None, "{}", None]
        else:  # imported history: processed, no points
            state = [PurchaseStatus.AWARDED.value, 0, '{"imported": true}', timezone.now()]
        cursor.execute(_PURCHASE_INSERT, [partner.pk, *state, *columns])
        rows = cursor.fetchall()
    for pk, order_id in rows:
        purchase = new[order_id]
        purchase.pk = pk
    return {order_id for _pk, order_id in rows}


_LINE_INSERT = """
INSERT INTO programs_purchaseline (
    purchase_id, line_no, sku, category, quantity, unit_price, amount,
    refunded_quantity, points
)
SELECT t.*, 0, 0
FROM unnest(
    %s::bigint[], %s::smallint[], %s::varchar[], %s::varchar[], %s::integer[],
    %s::numeric[], %s::numeric[]
) AS t
"""


def _insert_lines(rows: list[tuple[int, int, LineData]]) -> None:
    if not rows:
        return
    columns = [
        [pk for pk, _n, _line in rows],
        [number for _pk, number, _line in rows],
        [line.sku for _pk, _n, line in rows],
        [line.category for _pk, _n, line in rows],
        [line.quantity for _pk, _n, line in rows],
        [line.unit_price for _pk, _n, line in rows],
        [line.amount for _pk, _n, line in rows],
    ]
    with connection.cursor() as cursor:
        cursor.execute(_LINE_INSERT, columns)
