"""Writing a chunk of the members import (``members``): new members set-based, one
insert per table (customers through their service, the rest by COPY); updates and new
members whose address is another customer's one by one through the member service; the
opening balance once per membership (key ``import:opening:<membership>``), one
``opening`` ledger entry dated when the points were earned, with its lot, through
``Postings``."""

from datetime import datetime, time

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.preferences import customer_preferences_update
from customers.services import customers_create_many
from programs.imports.context import Context, Row
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
from programs.services.expiry_rules import lot_expiry
from programs.services.ledger import points_earn
from programs.services.locking import lock_membership
from programs.services.memberships import referral_code_generate
from programs.services.partner_members import partner_member_upsert
from programs.services.postings import Actor, Postings
from programs.services.table_rows import ids_reserve, rows_insert_values
from programs.services.tier_figures import next_review, qualified_tiers, supported_tier


def opening_key(membership_id: int) -> str:
    return f"import:opening:{membership_id}"


def _aware(day_value) -> datetime | None:
    if day_value is None:
        return None
    return timezone.make_aware(datetime.combine(day_value, time.min))


def _expires(row: Row, program, earned_at: datetime) -> datetime | None:
    if row.data["expires"] is not None:
        return timezone.make_aware(datetime.combine(row.data["expires"], time(23, 59, 59)))
    return lot_expiry(program, earned_at)


def members_create(context: Context, rows: list[Row]) -> None:
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


def member_upsert(context: Context, row: Row) -> None:
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
        opening_book(context, row, membership)


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
def opening_book(context: Context, row: Row, membership: Membership | None = None) -> None:
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
