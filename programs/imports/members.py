"""Members import: the partner's customer ids with contact data, consents, program,
starting tier and opening balance (with the day the points were earned and, optionally,
when they expire).

Per row: a new member is created (customer, the partner's id, membership with its
starting tier); a known one is updated like ``PUT /members/{id}`` (an address that is
another customer's asks them to confirm, ``link_claims``). The opening balance is booked
once per membership (key ``import:opening:<membership>``): one ``opening`` ledger entry
dated when the points were earned, with its lot, through ``Postings``; a second file with
another balance for the same member books nothing and says so.

New members without such an address are written set-based, a chunk with one insert per
table; the others one by one through the member service.
"""

from datetime import datetime, time

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.emails import email_normalize
from customers.models import CommunicationPreferences, Customer
from customers.preferences import customer_preferences_update
from customers.services import customers_create_many
from programs.imports.cells import CellError, day, integer, plain_text, text, yes_no
from programs.imports.context import MEMBER_ALIASES, Context, Row
from programs.models import (
    EntryKind,
    EntrySource,
    LedgerEntry,
    Membership,
    MembershipStatus,
    PartnerCustomer,
    PointLot,
    TierChange,
    TierChangeReason,
)
from programs.services import events
from programs.services.awarding import LOT_FIELDS
from programs.services.events import events_record
from programs.services.ledger import lot_expiry, points_earn
from programs.services.locking import lock_membership
from programs.services.memberships import referral_code_generate
from programs.services.partner_members import partner_member_upsert
from programs.services.postings import Actor, Postings
from programs.services.table_rows import ids_reserve, rows_insert_values
from programs.services.tier_figures import next_review, qualified_tiers, supported_tier

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


def opening_key(membership_id: int) -> str:
    return f"import:opening:{membership_id}"


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
        _create_many(context, simple)
    for row in others:
        _upsert_one(context, row)
    for row in rows:
        if row.action == "unchanged" and row.data["book"]:
            _opening_one(context, row)
    return len(rows)


def _aware(day_value) -> datetime | None:
    if day_value is None:
        return None
    return timezone.make_aware(datetime.combine(day_value, time.min))


def _expires(row: Row, program, earned_at: datetime) -> datetime | None:
    if row.data["expires"] is not None:
        return timezone.make_aware(datetime.combine(row.data["expires"], time(23, 59, 59)))
    return lot_expiry(program, earned_at)


def _create_many(context: Context, rows: list[Row]) -> None:
    """New members, set-based: customers, the partner's ids, consents, memberships with
    their starting tier, opening balances; one insert per table."""
    now = context.now
    customers = customers_create_many(
        [{**r.data["fields"], "consents": r.data["consents"]} for r in rows]
    )
    _copy_insert(
        PartnerCustomer,
        [
            PartnerCustomer(partner=context.job.partner, customer=c, external_id=r.external_id)
            for r, c in zip(rows, customers, strict=True)
        ],
        now,
    )
    base = {}
    memberships = []
    for row, customer in zip(rows, customers, strict=True):
        program = row.program
        if program.pk not in base:
            base[program.pk] = supported_tier(qualified_tiers(program), 0)
        tier = row.data["tier"] or base[program.pk]
        memberships.append(
            Membership(
                customer=customer,
                program=program,
                joined_at=_aware(row.data["joined"]) or now,
                referral_code=referral_code_generate(),
                status=MembershipStatus.ACTIVE,
                qualified_tier=tier,
                qualified_tier_since=now,
                tier_review_at=next_review(program, now),
                tier=tier,
            )
        )
    _copy_insert(Membership, memberships, now, skip=("card_number",))
    _copy_insert(
        TierChange,
        [
            TierChange(
                membership=m,
                from_tier=None,
                to_tier=m.tier,
                reason=TierChangeReason.ENROLLED,
                note=_("Import: starting tier") if r.data["tier"] else "",
            )
            for r, m in zip(rows, memberships, strict=True)
            if m.tier is not None
        ],
        now,
    )
    booked = [(r, m) for r, m in zip(rows, memberships, strict=True) if r.data["book"]]
    if booked:
        _openings_post(context, booked)


def _copy_insert(model, objs: list, now: datetime, skip: tuple = ()) -> None:
    """Insert new ``objs`` with ``COPY`` (ids reserved and set on them; ``auto_now`` fields
    set to ``now``; ``skip``: columns the database fills). Django's ``bulk_create`` spent
    more time preparing the rows of a chunk than PostgreSQL spent storing them."""
    if not objs:
        return
    fields = [f for f in model._meta.concrete_fields if f.name not in skip]
    for obj, pk in zip(objs, ids_reserve(model, len(objs)), strict=True):
        obj.pk = pk
        for field in fields:
            if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                setattr(obj, field.attname, now)
    rows_insert_values(
        model,
        [f.name for f in fields],
        ([getattr(obj, f.attname) for f in fields] for obj in objs),
    )


def _openings_post(context: Context, booked: list[tuple[Row, Membership]]) -> None:
    """One ``opening`` entry and lot per new membership (no debt to settle: new; the
    memberships are this transaction's own, so nobody else can see them to lock)."""
    locked = {m.pk: m for _r, m in booked}
    postings = Postings(expected=len(booked))
    lot_ids = iter(ids_reserve(PointLot, len(booked)))
    actor = _actor(context)
    lots = []
    for row, membership in booked:
        membership = locked[membership.pk]
        earned_at = _aware(row.data["earned"])
        posted = postings.post(
            membership,
            kind=EntryKind.OPENING,
            source=EntrySource.IMPORT,
            idempotency_key=opening_key(membership.pk),
            actor=actor,
            points=row.data["book"],
            reason=_("Opening balance from %(file)s") % {"file": context.job.file_name[:80]},
            at=context.now,
            effective_at=earned_at,
        )
        lots.append(
            [
                next(lot_ids),
                membership.pk,
                posted.id,
                row.data["book"],
                row.data["book"],
                earned_at,
                context.now,
                context.now,
                _expires(row, membership.program, earned_at),
            ]
        )
    posted_all = list(postings.entries)
    postings.write()
    rows_insert_values(PointLot, LOT_FIELDS, lots)
    if context.job.notify:  # as ``points_earn`` announces an earn
        events_record(
            [
                (
                    events.POINTS_AWARDED,
                    posted.membership,
                    {
                        "entry_id": posted.id,
                        "points": posted.points,
                        "pending": False,
                        "available_at": context.now,
                        "source": EntrySource.IMPORT,
                        "reason": posted.values["reason"],
                    },
                )
                for posted in posted_all
            ],
            at=context.now,
        )


def _actor(context: Context) -> Actor:
    if context.job.via_api:
        return Actor.for_partner(context.job.partner)
    if context.job.created_by is not None:
        return Actor.for_staff(context.job.created_by)
    return Actor.system()


def _upsert_one(context: Context, row: Row) -> None:
    upsert = partner_member_upsert(
        partner=context.job.partner,
        external_id=row.external_id,
        fields=row.data["fields"],
        programs=[row.program],
    )
    customer = upsert.link.customer
    if row.data["consents"]:
        customer_preferences_update(customer, **row.data["consents"])
    membership = Membership.objects.get(customer=customer, program=row.program)
    if any(m.pk == membership.pk for m in upsert.enrolled):
        _starting_tier(row, membership, context)
        if row.data["joined"] is not None:
            Membership.objects.filter(pk=membership.pk).update(joined_at=_aware(row.data["joined"]))
    if row.data["book"]:
        _opening_one(context, row, membership)


def _starting_tier(row: Row, membership: Membership, context: Context) -> None:
    tier = row.data["tier"]
    if tier is None or membership.qualified_tier_id == tier.pk:
        return
    membership = lock_membership(membership.pk)
    old = membership.tier
    membership.qualified_tier = membership.tier = tier
    membership.qualified_tier_since = context.now
    membership.tier_review_at = next_review(membership.program, context.now)
    membership.save(
        update_fields=["qualified_tier", "tier", "qualified_tier_since", "tier_review_at"]
    )
    TierChange.objects.create(
        membership=membership,
        from_tier=old,
        to_tier=tier,
        reason=TierChangeReason.ENROLLED,
        note=_("Import: starting tier"),
    )


@transaction.atomic
def _opening_one(context: Context, row: Row, membership: Membership | None = None) -> None:
    """The opening balance of an existing membership (one by one: it may owe points)."""
    if membership is None:
        link = PartnerCustomer.objects.get(partner=context.job.partner, external_id=row.external_id)
        membership = Membership.objects.get(customer_id=link.customer_id, program=row.program)
    membership = lock_membership(membership.pk)
    key = opening_key(membership.pk)
    if LedgerEntry.objects.filter(idempotency_key=key).exists():
        return
    earned_at = _aware(row.data["earned"])
    entry = points_earn(
        membership,
        points=row.data["book"],
        source=EntrySource.IMPORT,
        kind=EntryKind.OPENING,
        idempotency_key=key,
        actor=_actor(context),
        earned_at=earned_at,
        reason=_("Opening balance from %(file)s") % {"file": context.job.file_name[:80]},
    )
    if row.data["expires"] is not None:
        PointLot.objects.filter(earn_entry=entry).update(
            expires_at=_expires(row, membership.program, earned_at)
        )
