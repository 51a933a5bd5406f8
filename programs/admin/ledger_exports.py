"""Ledger entries as rows for a file (CSV or Excel), read in chunks in one query:

* one membership's whole ledger, oldest first (the member's statement);
* one program's entries of a period, for accounting, with the member, the customer's
  name and each entry's value in money (``points x Program.point_value``, rounded to
  the currency's unit as the settlement does).

A period runs from local midnight of its first day to local midnight after its last day,
by the time an entry was recorded (``created_at``: what the books of that period saw;
the default) or the time it counts in business terms (``effective_at``: a purchase's
date for its points).

Dates and times are the local wall clock, to the second. Kinds, sources and the reasons
the services store in English are in the reader's language; the reference is the entry's
idempotency key, which names its cause (``purchase:42:earn``)."""

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import capfirst, slugify
from django.utils.translation import gettext_lazy

from programs.admin.wording import reason_text
from programs.member_exports import local_naive
from programs.models import EntryKind, EntrySource, LedgerEntry, Membership, Program
from programs.settlement import money

CHUNK_SIZE = 2000
RECORDED, EFFECTIVE = "created_at", "effective_at"  # a period's date basis


def _label(name: str):
    return LedgerEntry._meta.get_field(name).verbose_name


def _words() -> tuple[dict, dict]:
    """Kinds and sources in the active language, translated once."""
    kinds = {value: str(label) for value, label in EntryKind.choices}
    sources = {value: str(label) for value, label in EntrySource.choices}
    return kinds, sources


ENTRY_COLUMNS = (
    gettext_lazy("recorded"),
    _label("effective_at"),
    _label("kind"),
    _label("source"),
    _label("points"),
    _label("pending_points"),
    _label("held_points"),
    _label("balance_after"),
    _label("pending_after"),
    _label("reason"),
    gettext_lazy("reference"),
    gettext_lazy("order id"),
)


def membership_ledger_header() -> list[str]:
    return [capfirst(str(name)) for name in ENTRY_COLUMNS]


def membership_ledger_rows(membership: Membership) -> Iterator[list]:
    """Every entry of ``membership`` as recorded, oldest first (columns as
    ``membership_ledger_header()``)."""
    kinds, sources = _words()
    values = (
        LedgerEntry.objects.filter(membership=membership)
        .order_by("created_at", "id")
        .values_list(
            "created_at",
            "effective_at",
            "kind",
            "source",
            "points",
            "pending_points",
            "held_points",
            "balance_after",
            "pending_after",
            "reason",
            "idempotency_key",
            "purchase__order_id",
        )
    )

    def rows():
        for row in values.iterator(chunk_size=CHUNK_SIZE):
            recorded, effective, kind, source, *points, reason, key, order_id = row
            yield [
                local_naive(recorded),
                local_naive(effective),
                kinds.get(kind, kind),
                sources.get(source, source),
                *points,
                reason_text(reason),
                key,
                order_id or "",
            ]

    return rows()


def membership_ledger_filename(membership: Membership, *, extension: str) -> str:
    return f"punktekonto-{membership.pk}-{timezone.localdate().isoformat()}.{extension}"


PERIOD_COLUMNS = (
    gettext_lazy("recorded"),
    _label("effective_at"),
    gettext_lazy("membership id"),
    gettext_lazy("card number"),
    gettext_lazy("name"),
    _label("kind"),
    _label("source"),
    _label("points"),
    _label("pending_points"),
    gettext_lazy("value"),
    gettext_lazy("currency"),
    _label("reason"),
    gettext_lazy("reference"),
)


def period_ledger_header() -> list[str]:
    return [capfirst(str(name)) for name in PERIOD_COLUMNS]


def period_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[local midnight of ``first``, local midnight after ``last``)."""
    start = timezone.make_aware(datetime.combine(first, time.min))
    end = timezone.make_aware(datetime.combine(last + timedelta(days=1), time.min))
    return start, end


def period_entries(
    program: Program, first: date, last: date, *, basis: str = RECORDED
) -> QuerySet[LedgerEntry]:
    start, end = period_bounds(first, last)
    return LedgerEntry.objects.filter(
        membership__program=program, **{f"{basis}__gte": start, f"{basis}__lt": end}
    )


def period_ledger_rows(
    program: Program, first: date, last: date, *, basis: str = RECORDED
) -> Iterator[list]:
    """The program's entries of the period by ``basis``, in that order (columns as
    ``period_ledger_header()``)."""
    kinds, sources = _words()
    currency = program.currency
    values = (
        period_entries(program, first, last, basis=basis)
        .order_by(basis, "id")
        .values_list(
            "created_at",
            "effective_at",
            "membership_id",
            "membership__card_number",
            "membership__customer__first_name",
            "membership__customer__last_name",
            "kind",
            "source",
            "points",
            "pending_points",
            "reason",
            "idempotency_key",
        )
    )

    def rows():
        for row in values.iterator(chunk_size=CHUNK_SIZE):
            (recorded, effective, membership_id, card, first_name, last_name) = row[:6]
            kind, source, points, pending, reason, key = row[6:]
            yield [
                local_naive(recorded),
                local_naive(effective),
                membership_id,
                card,
                f"{first_name} {last_name}".strip(),
                kinds.get(kind, kind),
                sources.get(source, source),
                points,
                pending,
                money(points, program),
                currency,
                reason_text(reason),
                key,
            ]

    return rows()


def period_ledger_filename(program: Program, first: date, last: date, *, extension: str) -> str:
    name = slugify(program.slug or program.name) or str(program.pk)
    return f"punktebuchungen-{name}-{first.isoformat()}-bis-{last.isoformat()}.{extension}"
