"""Point adjustments for a list of members, with a reason: each row is a staff adjustment
(``points_adjust``: the ledger, the audit log, the role's limit), keyed by the file and
line (or the row's own reference), so a second run books nothing again."""

from django.utils.translation import gettext as _

from programs.imports.cells import CellError, integer, plain_text, text
from programs.imports.context import MEMBER_ALIASES, Context, Row, unknown_member
from programs.models import LedgerEntry, Membership, PartnerCustomer
from programs.services.actions import points_adjust

ALIASES = {
    **MEMBER_ALIASES,
    "points": "points",
    "punkte": "points",
    "reason": "reason",
    "grund": "reason",
    "reference": "reference",
    "referenz": "reference",
}
REQUIRED = ("external_id", "points")


def adjustment_key(context: Context, row: Row) -> str:
    if row.data["reference"]:
        return f"import:points:{row.program.pk}:{row.data['reference']}"
    return f"import:points:{context.job.file_sha256[:32]}:{row.line}"


def parse(context: Context, line: int, values: dict) -> Row:
    external_id = text(values, "external_id", max_length=100)
    if not external_id:
        raise CellError(
            "external_id",
            _("The customer id is missing. Every row needs the customer's number."),
        )
    program = context.program_of(values)
    points = integer(values, "points")
    if not points:
        raise CellError("points", _("Enter the points to add (1500) or take away (-200)."))
    if not context.may_book_points:
        raise CellError("points", _("Your role may not adjust points."))
    if context.points_limit is not None and abs(points) > context.points_limit:
        raise CellError(
            "points",
            _(
                "Your role may adjust at most %(limit)s points at once, up or down. Split "
                "the row, or ask an administrator to import it."
            )
            % {"limit": context.points_limit},
        )
    reason = plain_text(values, "reason", max_length=255) or context.job.default_reason
    if not reason:
        raise CellError(
            "reason",
            _("Give a reason (column reason or Grund), or one for the whole file in the form."),
        )
    reference = text(values, "reference", max_length=100)
    context.once(("points", program.pk, reference or f"line:{line}"), line, "reference")
    return Row(
        line=line,
        external_id=external_id,
        program=program,
        data={"points": points, "reason": reason, "reference": reference},
    )


def classify(context: Context, rows: list[Row]) -> None:
    links = dict(
        PartnerCustomer.objects.filter(
            partner=context.job.partner, external_id__in=[r.external_id for r in rows]
        ).values_list("external_id", "customer_id")
    )
    memberships = {
        (c, p): (pk, balance)
        for pk, c, p, balance in Membership.objects.filter(
            customer_id__in=links.values(), program_id__in={r.program.pk for r in rows}
        ).values_list("pk", "customer_id", "program_id", "balance")
    }
    booked = set(
        LedgerEntry.objects.filter(
            idempotency_key__in=[adjustment_key(context, r) for r in rows]
        ).values_list("idempotency_key", flat=True)
    )
    for row in rows:
        found = memberships.get((links.get(row.external_id), row.program.pk))
        if found is None:
            row.action = "unknown_member"
            continue
        row.data["membership_id"], balance = found
        if adjustment_key(context, row) in booked:
            row.action = "unchanged"
        elif row.data["points"] < 0 and balance < -row.data["points"]:
            row.action = "short"
            row.data["balance"] = balance
        else:
            row.action = "adjust"
            context.points += row.data["points"]
        row.detail = (row.data["points"], row.data["reason"], row.data["reference"])


def row_problem(row: Row) -> tuple[str, str] | None:
    """A row the dry run found it cannot write: (column, message)."""
    if row.action == "unknown_member":
        return unknown_member(row)
    if row.action == "short":
        return (
            "points",
            _("Only %(balance)s points are available to take away.")
            % {"balance": row.data["balance"]},
        )
    return None


def write(context: Context, rows: list[Row]) -> int:
    written = 0
    for row in rows:
        if row.action != "adjust":
            continue
        points_adjust(
            membership=Membership.objects.get(pk=row.data["membership_id"]),
            points=row.data["points"],
            reason=row.data["reason"],
            user=context.job.created_by,
            idempotency_key=adjustment_key(context, row),
        )
        written += 1
    return written
