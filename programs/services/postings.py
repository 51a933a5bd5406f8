"""The one writer of points: ledger entries and the balance caches they move.

Every change to a membership's points, one entry or a batch of thousands, goes through a
``Postings``: ``post`` moves the locked membership's cached balances in memory and keeps
the entry's row (the only balance arithmetic in the code base); ``write`` inserts the
entries and updates the balance columns, one statement per table. Earning, releases,
expiry, returns, redemptions, adjustments and referral bonuses all post here, through the
ledger operations (``programs.services.ledger``) or the award batches
(``programs.services.awarding``).

An entry has two times: ``created_at``, when it was recorded, and ``effective_at``, when
it counts in business terms (a purchase's date for its earn and return entries; otherwise
the time recorded). Tiers, expiry, metrics and the histories read the business time; the
balances move in the order entries are recorded.

The caller holds the memberships' locks (``programs.services.locking``) in the
transaction. Invariants kept, per membership:

* sum(entry.points) == balance - debt (a debit beyond the balance opens a debt, which the
  next available points pay back first)
* sum(entry.pending_points) == pending
* sum(entry.held_points) == held, and held >= 0: a two-phase debit (a partner's hold,
  ``programs.services.holds``) first moves points from available to held (points -N,
  held_points +N), then a capture spends held points (held_points -C) and a release
  moves the rest back (points +R, held_points -R). Held points are out of the available
  balance, so the points a member owns are sum(points + held_points) == balance + held
  - debt; the caller never holds more than the available balance.
* lifetime_earned == sum of earned points, pending or available
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from programs.models import ActorType, EntryKind, LedgerEntry, Membership, Partner
from programs.services.table_rows import ids_reserve, rows_insert_values, rows_update

# Every column of an entry, in the model's order (so a row is also a whole instance).
ENTRY_COLUMNS = [f.attname for f in LedgerEntry._meta.concrete_fields]
LINKS = ("purchase", "redemption", "referral", "action_event", "hold")
BALANCE_FIELDS = ("balance", "debt", "pending", "held", "lifetime_earned", "updated_at")


@dataclass(frozen=True)
class Actor:
    """Who caused a change: a partner (API), a staff user, the customer, or the system."""

    type: str
    partner: Partner | None = None
    user: AbstractBaseUser | None = None
    partner_pk: int | None = None  # a partner known by id only (the award batches)

    @classmethod
    def system(cls) -> "Actor":
        return cls(ActorType.SYSTEM)

    @classmethod
    def for_partner(cls, partner: Partner) -> "Actor":
        return cls(ActorType.PARTNER, partner=partner)

    @classmethod
    def for_partner_id(cls, partner_id: int) -> "Actor":
        return cls(ActorType.PARTNER, partner_pk=partner_id)

    @classmethod
    def for_staff(cls, user) -> "Actor":
        return cls(ActorType.STAFF, user=user)

    @classmethod
    def for_customer(cls, user=None) -> "Actor":
        return cls(ActorType.CUSTOMER, user=user)

    @property
    def partner_id(self) -> int | None:
        return self.partner.pk if self.partner is not None else self.partner_pk

    @property
    def user_id(self) -> int | None:
        return self.user.pk if self.user is not None else None


@dataclass
class Posted:
    """An entry as posted: its values, its id once known (reserved or written)."""

    values: dict
    membership: Membership

    @property
    def id(self) -> int | None:
        return self.values["id"]

    @property
    def points(self) -> int:
        return self.values["points"]

    @property
    def balance_after(self) -> int:
        return self.values["balance_after"]


@dataclass
class Postings:
    """Entries of one transaction and the memberships they move. ``expected`` entries get
    their ids at once (one query), for rows that refer to them before the write (lots,
    allocations); any further entry gets its id when written."""

    expected: int = 0
    entries: list[Posted] = field(default_factory=list)
    memberships: dict[int, Membership] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ids = iter(ids_reserve(LedgerEntry, self.expected))

    def post(
        self,
        membership: Membership,
        *,
        kind: str,
        source: str,
        idempotency_key: str,
        actor: Actor,
        points: int = 0,
        pending_points: int = 0,
        held_points: int = 0,
        reason: str = "",
        at: datetime | None = None,
        effective_at: datetime | None = None,
        **links,
    ) -> Posted:
        """Move ``membership``'s cached balances by ``points`` (available),
        ``pending_points`` and ``held_points``, and keep the entry that records it.
        ``links`` name the cause: ``purchase=``, ``redemption=``, ``referral=``,
        ``action_event=``, ``hold=`` (an instance) or the same with ``_id`` (an id).
        ``at`` is when the entry is recorded (default now), ``effective_at`` when it
        counts in business terms (default ``at``)."""
        recorded = at or timezone.now()
        available = membership.balance - membership.debt + points
        membership.balance, membership.debt = (available, 0) if available >= 0 else (0, -available)
        membership.pending += pending_points
        membership.held += held_points
        if kind == EntryKind.EARN:
            membership.lifetime_earned += points + pending_points
        values = dict.fromkeys(ENTRY_COLUMNS)
        values.update(
            id=next(self._ids, None),
            membership_id=membership.pk,
            kind=kind,
            points=points,
            pending_points=pending_points,
            held_points=held_points,
            balance_after=available,
            pending_after=membership.pending,
            source=source,
            actor_type=actor.type,
            actor_partner_id=actor.partner_id,
            actor_user_id=actor.user_id,
            reason=reason[:255],
            idempotency_key=idempotency_key,
            created_at=recorded,
            effective_at=effective_at or recorded,
            **_link_ids(links),
        )
        posted = Posted(values, membership)
        self.entries.append(posted)
        self.memberships[membership.pk] = membership
        return posted

    def touch(self, membership: Membership) -> None:
        """Write this membership with the others (a caller changed its other fields)."""
        self.memberships[membership.pk] = membership

    def write(self, *, also: Sequence[str] = ()) -> None:
        """Insert the entries and update the memberships' balance columns (and the fields
        named in ``also``), one statement per table. A second entry with the same
        idempotency key raises ``IntegrityError``, as the unique constraint says."""
        missing = [posted for posted in self.entries if posted.id is None]
        for posted, pk in zip(missing, ids_reserve(LedgerEntry, len(missing)), strict=True):
            posted.values["id"] = pk
        rows = [[posted.values[name] for name in ENTRY_COLUMNS] for posted in self.entries]
        rows_insert_values(LedgerEntry, ENTRY_COLUMNS, rows)
        now = timezone.now()
        memberships = list(self.memberships.values())
        for membership in memberships:
            membership.updated_at = now
        fields = [*BALANCE_FIELDS, *also]
        if len(memberships) == 1:
            (membership,) = memberships
            Membership.objects.filter(pk=membership.pk).update(
                **{_attname(name): getattr(membership, _attname(name)) for name in fields}
            )
        else:
            rows_update(Membership, fields, memberships)
        self.entries.clear()
        self.memberships.clear()


def entry_instance(posted: Posted) -> LedgerEntry:
    """The written entry as a model instance, without reading it back."""
    return LedgerEntry.from_db(
        "default", ENTRY_COLUMNS, [posted.values[name] for name in ENTRY_COLUMNS]
    )


def _link_ids(links: dict) -> dict:
    ids = {}
    for name, value in links.items():
        if name in LINKS:
            ids[f"{name}_id"] = value.pk if value is not None else None
        elif name.removesuffix("_id") in LINKS:
            ids[name] = value
        else:
            raise TypeError(f"unknown link {name!r}: use one of {LINKS}")
    return ids


def _attname(name: str) -> str:
    return Membership._meta.get_field(name).attname
