"""Members import: the partner's customer ids with contact data, consents, program,
starting tier and opening balance (with the day the points were earned and, optionally,
when they expire).

Per row: a new member is created (customer, the partner's id, membership with its
starting tier); a known one is updated like ``PUT /members/{id}`` (an address that is
another customer's asks them to confirm, ``link_claims``). The opening balance is booked
once per membership; a second file with another balance for the same member books
nothing and says so. Here the cells are read and each row's action decided; the writes
are ``member_writes``.
"""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from customers.emails import email_normalize
from customers.models import CommunicationPreferences, Customer
from programs.imports.cells import CellError, day, integer, plain_text, text, yes_no
from programs.imports.context import MEMBER_ALIASES, Context, Row
from programs.imports.member_writes import member_upsert, members_create, opening_book, opening_key
from programs.models import (
    LedgerEntry,
    Membership,
    PartnerCustomer,
)

ALIASES = {
    **MEMBER_ALIASES,
    "email": "email",
    "e_mail": "email",
    "first_name": "first_name",
    "vorname": "first_name",
    "last_name": "last_name",
    "nachname": "last_name",
    "language": "language",
    "sprache": "language",
    "birth_date": "birth_date",
    "geburtsdatum": "birth_date",
    "email_marketing": "email_marketing",
    "newsletter": "email_marketing",
    "werbung": "email_marketing",
    "email_surveys": "email_surveys",
    "umfragen": "email_surveys",
    "joined_at": "joined_at",
    "mitglied_seit": "joined_at",
    "beigetreten": "joined_at",
    "tier": "tier",
    "stufe": "tier",
    "opening_balance": "opening_balance",
    "anfangssaldo": "opening_balance",
    "punktestand": "opening_balance",
    "punkte": "opening_balance",
    "points": "opening_balance",
    "earned_at": "earned_at",
    "gesammelt_am": "earned_at",
    "punkte_datum": "earned_at",
    "expires_at": "expires_at",
    "verfall": "expires_at",
    "verfaellt_am": "expires_at",
}
REQUIRED = ("external_id",)
CONTACT = ("email", "first_name", "last_name", "language", "birth_date")
CONSENTS = ("email_marketing", "email_surveys")
LANGUAGES = ("de", "en")


def parse(context: Context, line: int, values: dict) -> Row:
    external_id = text(values, "external_id", max_length=100)
    if not external_id:
        raise CellError(
            "external_id",
            _(
                "The customer id is missing. Every row needs the customer's number in your "
                "system (column external_id or Kundennummer)."
            ),
        )
    program = context.program_of(values)
    context.once((program.pk, external_id), line, "external_id")
    fields = {}
    for name in ("first_name", "last_name"):
        if name in values:
            fields[name] = plain_text(values, name, max_length=150)
    if "email" in values:
        email = text(values, "email", max_length=254)
        if email:
            try:
                validate_email(email)
            except ValidationError:
                raise CellError(
                    "email", _("'%(value)s' is not an e-mail address.") % {"value": email}
                ) from None
        fields["email"] = email
    if "language" in values:
        language = text(values, "language").lower()[:2] or "de"
        if language not in LANGUAGES:
            raise CellError("language", _("Write de or en as the language."))
        fields["language"] = language
    if "birth_date" in values:
        born = day(values, "birth_date")
        if born is not None and born > context.now.date():
            raise CellError("birth_date", _("The date of birth lies in the future."))
        fields["birth_date"] = born
    consents = {}
    for name in CONSENTS:
        value = yes_no(values, name)
        if value is not None:
            consents[name] = value
    joined = day(values, "joined_at")
    tier = None
    if tier_name := text(values, "tier", max_length=60):
        tier = context.tiers.get(program.pk, {}).get(tier_name.lower())
        if tier is None:
            known = ", ".join(t.name for t in context.tiers.get(program.pk, {}).values())
            raise CellError(
                "tier",
                _("There is no tier '%(name)s' in %(program)s. Use one of: %(known)s.")
                % {"name": tier_name, "program": program.name, "known": known or "-"},
            )
    opening = integer(values, "opening_balance") or 0
    earned = expires = None
    if opening < 0:
        raise CellError(
            "opening_balance",
            _(
                "An opening balance cannot be negative. Enter 0 or more points; book a debt "
                "as a point adjustment."
            ),
        )
    if opening:
        if not context.may_book_points:
            raise CellError(
                "opening_balance",
                _(
                    "Your role may not book points. Leave the balance empty, or ask a "
                    "colleague who may adjust points to import the file."
                ),
            )
        earned = day(values, "earned_at") or joined or context.now.date()
        if earned > context.now.date():
            raise CellError("earned_at", _("The points cannot have been earned in the future."))
        expires = day(values, "expires_at")
        if expires is not None and expires <= context.now.date():
            raise CellError(
                "expires_at",
                _(
                    "These points would expire at once (the date has passed). Leave them "
                    "out or give a later expiry date."
                ),
            )
    context.history(program, joined)
    context.history(program, earned)
    return Row(
        line=line,
        external_id=external_id,
        program=program,
        data={
            "fields": fields,
            "consents": consents,
            "joined": joined,
            "tier": tier,
            "opening": opening,
            "earned": earned,
            "expires": expires,
        },
    )


def classify(context: Context, rows: list[Row]) -> None:
    """Decide per row what the write does (``create``, ``claim``: create, the address
    is another customer's; ``update``; ``unchanged``) and whether the opening balance is
    booked, from what is stored now (a few queries per chunk)."""
    partner = context.job.partner
    links = dict(
        PartnerCustomer.objects.filter(
            partner=partner, external_id__in=[r.external_id for r in rows]
        ).values_list("external_id", "customer_id")
    )
    customers = Customer.objects.in_bulk(links.values())
    preferences = {
        p.customer_id: p
        for p in CommunicationPreferences.objects.filter(customer_id__in=links.values())
    }
    emails = {
        email_normalize(r.data["fields"]["email"])
        for r in rows
        if r.external_id not in links and r.data["fields"].get("email")
    }
    owned = set(
        Customer.objects.filter(email_normalized__in=emails).values_list(
            "email_normalized", flat=True
        )
    )
    memberships = {
        (customer_id, program_id): pk
        for pk, customer_id, program_id in Membership.objects.filter(
            customer_id__in=links.values(), program_id__in={r.program.pk for r in rows}
        ).values_list("pk", "customer_id", "program_id")
    }
    opened = set(
        LedgerEntry.objects.filter(
            idempotency_key__in=[opening_key(pk) for pk in memberships.values()]
        ).values_list("membership_id", flat=True)
    )
    for row in rows:
        data = row.data
        customer_id = links.get(row.external_id)
        membership_id = memberships.get((customer_id, row.program.pk))
        if customer_id is None:
            email = data["fields"].get("email")
            row.action = "claim" if email and email_normalize(email) in owned else "create"
        else:
            customer = customers[customer_id]
            switches = preferences.get(customer_id) or CommunicationPreferences()
            changed = any(getattr(customer, k) != v for k, v in data["fields"].items()) or any(
                getattr(switches, k) != v for k, v in data["consents"].items()
            )
            row.action = "update" if changed or membership_id is None else "unchanged"
        opening = data["opening"]
        already = membership_id is not None and membership_id in opened
        data["book"] = opening if opening and not already else 0
        data["already_opened"] = bool(opening and already)
        if data["book"]:
            context.points += data["book"]
        row.detail = (
            tuple(sorted((k, str(v)) for k, v in data["fields"].items())),
            tuple(sorted(data["consents"].items())),
            data["tier"].pk if data["tier"] else None,
            data["book"],
            str(data["earned"]),
            str(data["expires"]),
        )
        if data["already_opened"]:
            context.actions["opening_already_booked"] += 1


def write(context: Context, rows: list[Row]) -> int:
    """Write one chunk (in the caller's transaction). Returns the rows written."""
    simple = [r for r in rows if r.action == "create"]
    others = [r for r in rows if r.action in ("claim", "update")]
    if simple:
        members_create(context, simple)
    for row in others:
        member_upsert(context, row)
    for row in rows:
        if row.action == "unchanged" and row.data["book"]:
            opening_book(context, row)
    return len(rows)
