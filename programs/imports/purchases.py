"""Purchase history: the partner's past orders, with their own dates. They count toward
tiers and metrics; they earn points only if the import says so (otherwise they are stored
as processed with no points: the points came with the opening balance). Stored through
the API's batch path (``purchases_record_many``), so the order id is the key: a second run
stores nothing again."""

from collections import defaultdict

from django.utils.translation import gettext as _

from programs.errors import LoyaltyError
from programs.imports.cells import CellError, moment, money, text
from programs.imports.context import MEMBER_ALIASES, Context, Row, unknown_member
from programs.models import Membership, PartnerCustomer, Purchase
from programs.services.locking import lock_memberships
from programs.services.purchases import partner_program_ids, purchase_check, purchases_award
from programs.services.purchases_batch import PurchaseItem, purchases_record_many
from programs.services.tiers import membership_tier_upgrade

ALIASES = {
    **MEMBER_ALIASES,
    "order_id": "order_id",
    "bestellnummer": "order_id",
    "beleg": "order_id",
    "belegnummer": "order_id",
    "amount": "amount",
    "betrag": "amount",
    "umsatz": "amount",
    "currency": "currency",
    "waehrung": "currency",
    "occurred_at": "occurred_at",
    "date": "occurred_at",
    "datum": "occurred_at",
    "kaufdatum": "occurred_at",
}
REQUIRED = ("external_id", "order_id", "amount", "occurred_at")


def parse(context: Context, line: int, values: dict) -> Row:
    external_id = text(values, "external_id", max_length=100)
    if not external_id:
        raise CellError("external_id", _("The customer id is missing."))
    program = context.program_of(values)
    order_id = text(values, "order_id", max_length=100)
    if not order_id:
        raise CellError("order_id", _("The order number is missing; it keeps a purchase unique."))
    context.once(("order", order_id), line, "order_id")
    amount = money(values, "amount", context.fmt.decimal)
    if amount is None or amount <= 0:
        raise CellError("amount", _("Enter the amount paid, more than 0."))
    currency = (text(values, "currency", max_length=3) or program.currency).upper()
    if currency != program.currency:
        raise CellError(
            "currency",
            _("%(program)s counts in %(currency)s.")
            % {"program": program.name, "currency": program.currency},
        )
    occurred_at = moment(values, "occurred_at")
    if occurred_at is None:
        raise CellError("occurred_at", _("The date of the purchase is missing."))
    if occurred_at > context.now:
        raise CellError("occurred_at", _("The purchase date lies in the future."))
    context.history(program, occurred_at)
    return Row(
        line=line,
        external_id=external_id,
        program=program,
        data={"order_id": order_id, "amount": amount, "currency": currency, "at": occurred_at},
    )


def classify(context: Context, rows: list[Row]) -> None:
    links = dict(
        PartnerCustomer.objects.filter(
            partner=context.job.partner, external_id__in=[r.external_id for r in rows]
        ).values_list("external_id", "customer_id")
    )
    memberships = {
        (m.customer_id, m.program_id): m
        for m in Membership.objects.filter(
            customer_id__in=links.values(), program_id__in={r.program.pk for r in rows}
        ).select_related("program")
    }
    stored = set(
        Purchase.objects.filter(
            partner=context.job.partner, order_id__in=[r.data["order_id"] for r in rows]
        ).values_list("order_id", flat=True)
    )
    for row in rows:
        membership = memberships.get((links.get(row.external_id), row.program.pk))
        row.data["membership"] = membership
        if membership is None:
            row.action = "unknown_member"
        elif row.data["order_id"] in stored:
            row.action = "unchanged"
        else:
            row.action = "record"
        row.detail = (row.data["order_id"], str(row.data["amount"]), row.data["at"].isoformat())


def row_problem(row: Row) -> tuple[str, str] | None:
    if row.action == "unknown_member":
        return unknown_member(row)
    if row.action == "refused":
        return ("", row.data["error"])
    return None


def check_stored(context: Context, rows: list[Row]) -> None:
    """The API's own checks (inactive membership...), after the history start moved."""
    program_ids = partner_program_ids(context.job.partner)
    for row in rows:
        if row.action != "record":
            continue
        program = row.data["membership"].program
        earliest = context.earliest.get(program.pk)
        if earliest is not None and earliest < program.history_starts_on:
            # the import moves the history start back before it writes (in memory here)
            program.history_starts_on = earliest
        try:
            purchase_check(
                membership=row.data["membership"],
                program_ids=program_ids,
                amount=row.data["amount"],
                currency=row.data["currency"],
                occurred_at=row.data["at"],
                lines=(),
                now=context.now,
            )
        except LoyaltyError as exc:
            row.action = "refused"
            row.data["error"] = _refusal(exc)
        else:
            context.money[row.data["currency"]] += row.data["amount"]


def _refusal(exc: LoyaltyError) -> str:
    """Why the API would refuse the purchase, in the job's language."""
    known = {
        "membership_inactive": _(
            "The membership is suspended or closed; reactivate it first or leave the row out."
        ),
        "program_mismatch": _("This partner does not take part in the member's program."),
        "amount_out_of_range": _("The amount is larger than a purchase may be."),
        "invalid_amount": _("The amount or the date is not valid for a purchase."),
    }
    return known.get(exc.code, str(exc.message))


def write(context: Context, rows: list[Row]) -> int:
    todo = [r for r in rows if r.action == "record"]
    if not todo:
        return 0
    award = context.job.award_points
    outcomes = purchases_record_many(
        partner=context.job.partner,
        items=[
            PurchaseItem(
                membership=r.data["membership"],
                order_id=r.data["order_id"],
                amount=r.data["amount"],
                currency=r.data["currency"],
                occurred_at=r.data["at"],
            )
            for r in todo
        ],
        award=award,
    )
    created = [o.purchase for o in outcomes if o.created]
    if award and created:
        purchases_award([p.pk for p in created])  # here, so that ``notify`` applies
    else:
        _activity_and_tiers(context, created)
    return len(created)


def _activity_and_tiers(context: Context, purchases: list[Purchase]) -> None:
    """What the award does besides points: last activity and a tier upgrade the spend
    now supports."""
    latest = defaultdict(lambda: None)
    for purchase in purchases:
        known = latest[purchase.membership_id]
        latest[purchase.membership_id] = max(filter(None, [known, purchase.occurred_at]))
    locked = lock_memberships(latest)
    for pk, membership in locked.items():
        if membership.last_activity_at is None or membership.last_activity_at < latest[pk]:
            membership.last_activity_at = latest[pk]
            membership.save(update_fields=["last_activity_at", "updated_at"])
        membership_tier_upgrade(membership, context.now)
