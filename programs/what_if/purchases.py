"""The purchases a what-if replays: the program's awarded purchases of the period, in the
order they happened, streamed from a server-side cursor as plain tuples with their lines
aggregated in the same query (no model instances: a million of them would take longer
than the replay itself).

The lines come as one text per purchase (amount, category and SKU joined by control
characters), split here: reading three arrays per row cost psycopg twice the time of the
rest of the row (about 15 s per million purchases). A line whose text does not split
cleanly (a control character in a SKU) is read again from its row."""

from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import NamedTuple

from django.contrib.postgres.aggregates import StringAgg
from django.db.models import Q, TextField, Value
from django.db.models.functions import Cast, Concat

from programs.models import Purchase, PurchaseLine, PurchaseStatus, TierSubscription

CHUNK = 10_000  # rows fetched from the cursor at a time
PROGRESS_STEPS = 20  # progress is reported every 5 %
FIELD, LINE = "\x1f", "\x1e"  # unit and record separators


class Line(NamedTuple):
    """What the earning calculator reads of a line (``programs.earning.LineInput``'s
    fields), built cheaply: a frozen dataclass per line cost more than the calculation."""

    amount: Decimal
    category: str
    sku: str


class Replayed(NamedTuple):
    pk: int
    membership_id: int
    partner_id: int
    amount: Decimal
    occurred_at: datetime
    lines: list[Line]  # empty: the purchase as one line (``purchase_points``)


def replayed_purchases(program_id: int, start: datetime, end: datetime):
    """The awarded purchases of the program that happened in ``[start, end)``."""
    return Purchase.objects.filter(
        program_id=program_id,
        status=PurchaseStatus.AWARDED,
        occurred_at__gte=start,
        occurred_at__lt=end,
    )


def purchases_stream(
    program_id: int,
    start: datetime,
    end: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[Replayed]:
    """The purchases of ``replayed_purchases`` by time (then id), each with its lines in
    line order. ``progress(done, total)`` is called about every 5 % and at the end."""
    purchases = replayed_purchases(program_id, start, end)
    total = purchases.count()
    line_text = Concat(
        Cast("lines__amount", TextField()),
        Value(FIELD),
        "lines__category",
        Value(FIELD),
        "lines__sku",
        output_field=TextField(),
    )
    rows = (
        purchases.order_by("occurred_at", "pk")
        .annotate(
            line_text=StringAgg(
                line_text, LINE, order_by="lines__line_no", filter=Q(lines__isnull=False)
            )
        )
        .values_list("pk", "membership_id", "partner_id", "amount", "occurred_at", "line_text")
    )
    step = max(1, total // PROGRESS_STEPS)
    done = 0
    for pk, member, partner, amount, at, text in rows.iterator(CHUNK):
        yield Replayed(pk, member, partner, amount, at, _lines(pk, text) if text else [])
        done += 1
        if progress is not None and done % step == 0:
            progress(done, total)
    if progress is not None:
        progress(done, total)


def _lines(pk: int, text: str) -> list[Line]:
    parts = text.replace(LINE, FIELD).split(FIELD)
    if len(parts) != 3 * (text.count(LINE) + 1):
        return _lines_read(pk)
    try:
        return [
            Line(Decimal(parts[n]), parts[n + 1], parts[n + 2]) for n in range(0, len(parts), 3)
        ]
    except InvalidOperation:
        return _lines_read(pk)


def _lines_read(pk: int) -> list[Line]:
    rows = PurchaseLine.objects.filter(purchase_id=pk).order_by("line_no")
    return [Line(*row) for row in rows.values_list("amount", "category", "sku")]


def fee_purchase_ids(program_id: int, start: datetime, end: datetime) -> set[int]:
    """Purchases of the period that paid a tier subscription: they earn points, but their
    amount is no qualifying spend (as in ``tier_figures.qualifying_values``)."""
    return set(
        TierSubscription.objects.filter(
            purchase__program_id=program_id,
            purchase__occurred_at__gte=start,
            purchase__occurred_at__lt=end,
        ).values_list("purchase_id", flat=True)
    )
