"""Occasions: a birthday bonus and a membership anniversary bonus, once a year per member,
given by a daily job (``occasions_award``) with a notification.

A program switches each on with its points (``Program.birthday_points``,
``Program.anniversary_points``; 0: off). The job looks at local days (Europe/Berlin):
today and the ``CATCH_UP_DAYS`` before it, so the occasions of days the worker missed are
given late rather than never; an earlier ``since`` backfills (the demo data, a program
that wants last month's too), giving the points without a weeks-late greeting. A
birthday or joining day of 29 February falls on 28 February in other years; the joining
day itself is no anniversary, and a birthday before joining earns nothing.

Once a year holds in the database: each bonus is a ledger entry with the unique key
``birthday:<membership>:<year>`` or ``anniversary:<membership>:<year>``, checked again
under the membership's lock, so a second run, a catch-up or a concurrent run gives
nothing twice. Only active memberships of active programs whose customer is not
anonymised get a bonus.

Set-based and batched, as the other daily jobs (``programs.services.due``): one query
finds the candidates, then each batch of memberships is locked in id order and written
in one transaction (entries, lots, ``points.awarded`` events, notifications). A member
that makes its batch fail is split out and logged (``batch_apply``); the others go on,
and the next day's run tries it again while the day is within the catch-up window.

The bonus points count like other earned points (tiers, expiry) from their day; they do
not raise a tier at once (the next activity or review does, as for referral rewards) and
are no activity of the member's.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import ExtractDay, ExtractMonth
from django.utils import timezone

from customers.models import Customer
from loyalty_site.core.batches import batch_apply
from programs.models import (
    EntryKind,
    EntrySource,
    LedgerEntry,
    LotAllocation,
    Membership,
    MembershipStatus,
    PointLot,
)
from programs.notifications.models import NotificationKind
from programs.notifications.services import NotificationSpec, notifications_create_many
from programs.services import events
from programs.services.events import events_record
from programs.services.expiry_rules import lot_expiry
from programs.services.locking import lock_memberships
from programs.services.postings import Actor, Postings

BATCH = 500  # memberships per transaction
CATCH_UP_DAYS = 3  # days before today the job looks at again (a worker down on the day)
BIRTHDAY, ANNIVERSARY = "birthday", "anniversary"
KINDS = (BIRTHDAY, ANNIVERSARY)  # on the same day, in this order
POINTS_FIELD = {BIRTHDAY: "birthday_points", ANNIVERSARY: "anniversary_points"}


@dataclass(frozen=True)
class Occasion:
    """A member's birthday or membership anniversary on ``day`` (``years``: of membership)."""

    membership_id: int
    kind: str
    day: date
    joined_at: datetime
    years: int = 0

    @property
    def key(self) -> str:
        """The ledger entry's idempotency key: once per member, occasion and year."""
        return f"{self.kind}:{self.membership_id}:{self.day.year}"

    @property
    def reason(self) -> str:
        if self.kind == BIRTHDAY:
            return f"Geburtstagsbonus {self.day.year}"
        return f"Mitgliedsjubiläum: {self.years} {'Jahr' if self.years == 1 else 'Jahre'}"

    @property
    def effective_at(self) -> datetime:
        """The start of the local day (the moment of joining, for a member who joined on
        their birthday)."""
        start = timezone.make_aware(datetime.combine(self.day, time.min))
        return max(start, self.joined_at)


def occasion_day(month_day: date, year: int) -> date:
    """The day in ``year`` that ``month_day`` (a birth or joining date) falls on: 29
    February is 28 February in a year without it."""
    if (month_day.month, month_day.day) == (2, 29) and not _leap(year):
        return date(year, 2, 28)
    return month_day.replace(year=year)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _month_days(since: date, today: date) -> list[int] | None:
    """The dates (``month * 100 + day``) whose occasions fall between ``since`` and
    ``today``; None for all of them (a span of a year or more)."""
    span = (today - since).days + 1
    if span >= 366:
        return None
    days = [since + timedelta(days=n) for n in range(span)]
    codes = {day.month * 100 + day.day for day in days}
    codes |= {229 for day in days if (day.month, day.day) == (2, 28) and not _leap(day.year)}
    return sorted(codes)


def _on(queryset: QuerySet, field: str, codes: list[int] | None) -> QuerySet:
    """Rows whose ``field`` (a date, or a time stamp read as a local date) has its month
    and day in ``codes``."""
    if codes is None:
        return queryset
    month_day = ExtractMonth(field) * 100 + ExtractDay(field)
    return queryset.alias(month_day=month_day).filter(month_day__in=codes)


def _eligible() -> Q:
    return Q(
        status=MembershipStatus.ACTIVE,
        program__is_active=True,
        customer__anonymized_at__isnull=True,
    )


def occasions_due(since: date, today: date) -> list[Occasion]:
    """The birthdays and anniversaries of eligible members on the days from ``since`` to
    ``today``, ordered by membership, day and ``KINDS``; those already awarded included (two
    queries, whatever the number of members)."""
    if since > today:
        return []
    codes = _month_days(since, today)
    members = Membership.objects.filter(_eligible())
    birthdays = _on(
        members.filter(program__birthday_points__gt=0, customer__birth_date__isnull=False),
        "customer__birth_date",
        codes,
    ).values_list("pk", "joined_at", "customer__birth_date")
    anniversaries = _on(
        members.filter(program__anniversary_points__gt=0), "joined_at", codes
    ).values_list("pk", "joined_at")
    years = range(since.year, today.year + 1)
    found = []
    for membership_id, joined_at, birth in birthdays:
        joined = timezone.localdate(joined_at)
        for year in years:
            day = occasion_day(birth, year)
            if since <= day <= today and year > birth.year and joined <= day:
                found.append(Occasion(membership_id, BIRTHDAY, day, joined_at))
    for membership_id, joined_at in anniversaries:
        joined = timezone.localdate(joined_at)
        for year in years:
            day = occasion_day(joined, year)
            if since <= day <= today and year > joined.year:
                found.append(
                    Occasion(membership_id, ANNIVERSARY, day, joined_at, year - joined.year)
                )
    return sorted(found, key=lambda o: (o.membership_id, o.day, KINDS.index(o.kind)))


def _awarded(keys: Iterable[str]) -> set[str]:
    return set(
        LedgerEntry.objects.filter(idempotency_key__in=list(keys)).values_list(
            "idempotency_key", flat=True
        )
    )


def occasions_award(*, today: date | None = None, since: date | None = None) -> int:
    """Give the birthday and anniversary bonuses due from ``since`` (default:
    ``CATCH_UP_DAYS`` before ``today``) to ``today`` (default: the local date) that were
    not given yet. Returns the number of bonuses given. Safe to run again at any time."""
    today = today or timezone.localdate()
    since = since or today - timedelta(days=CATCH_UP_DAYS)
    by_member: dict[int, list[Occasion]] = defaultdict(list)
    for occasion in occasions_due(since, today):
        by_member[occasion.membership_id].append(occasion)
    member_ids = sorted(by_member)
    given = 0
    for start in range(0, len(member_ids), BATCH):
        chunk = member_ids[start : start + BATCH]
        done = _awarded(o.key for m in chunk for o in by_member[m])  # the common case: all
        todo = [m for m in chunk if any(o.key not in done for o in by_member[m])]

        def run(ids: list[int]) -> int:
            with transaction.atomic():
                return _award([o for m in ids for o in by_member[m]], today)

        given += batch_apply(todo, run, _skip_membership)
    return given


def _skip_membership(membership_id: int, error: Exception) -> int:
    """A membership whose bonus cannot be written: logged by ``batch_apply`` for staff to
    look into; the runs of the next days try it again (within ``CATCH_UP_DAYS``)."""
    return 0


def _award(occasions: list[Occasion], today: date) -> int:
    """Give these occasions' bonuses, under the memberships' locks, leaving out what is
    given already or no longer due (membership or program inactive, customer anonymised,
    bonus switched off), and notify the members of those at most ``CATCH_UP_DAYS`` old
    (a greeting weeks late is none: a backfill gives the points only). Returns the number
    given."""
    memberships = lock_memberships({o.membership_id for o in occasions})
    done = _awarded(o.key for o in occasions)  # again, under the locks: a concurrent run
    anonymised = set(
        Customer.objects.filter(
            pk__in={m.customer_id for m in memberships.values()}, anonymized_at__isnull=False
        ).values_list("pk", flat=True)
    )
    due = []
    for occasion in occasions:
        membership = memberships.get(occasion.membership_id)
        if membership is None or occasion.key in done:
            continue
        points = getattr(membership.program, POINTS_FIELD[occasion.kind])
        if (
            points > 0
            and membership.status == MembershipStatus.ACTIVE
            and membership.program.is_active
            and membership.customer_id not in anonymised
        ):
            due.append((occasion, membership, points))
    if not due:
        return 0
    now = timezone.now()
    _points_credit(due, now)
    recent = today - timedelta(days=CATCH_UP_DAYS)
    notifications_create_many(
        [
            _notification(occasion, membership, points)
            for occasion, membership, points in due
            if occasion.day >= recent
        ],
        at=now,
    )
    return len(due)


def _points_credit(due: list[tuple[Occasion, Membership, int]], now: datetime) -> None:
    """``ledger.points_earn`` for the batch, available at once: the entries posted in
    order with their lots, debt settling and ``points.awarded`` events, written with one
    statement per table."""
    postings = Postings(expected=len(due))
    lots, draws, items = [], [], []
    for occasion, membership, points in due:
        earned_at = occasion.effective_at
        posted = postings.post(
            membership,
            kind=EntryKind.EARN,
            source=EntrySource.OCCASION,
            idempotency_key=occasion.key,
            actor=Actor.system(),
            points=points,
            reason=occasion.reason,
            at=now,
            effective_at=earned_at,
        )
        # as ledger._settle_debt: the new points pay back an open debt first
        draw = min(max(0, points - posted.balance_after), points)
        lot = PointLot(
            membership_id=membership.pk,
            earn_entry_id=posted.id,
            points=points,
            remaining=points - draw,
            earned_at=earned_at,
            available_at=now,
            released_at=now,
            expires_at=lot_expiry(membership.program, earned_at),
        )
        lots.append(lot)
        draws.append((posted.id, lot, draw))
        data = {
            "entry_id": posted.id,
            "points": points,
            "pending": False,
            "available_at": now,
            "source": EntrySource.OCCASION.value,
            "reason": occasion.reason,
        }
        items.append((events.POINTS_AWARDED, membership, data))
    postings.write()
    PointLot.objects.bulk_create(lots)
    LotAllocation.objects.bulk_create(
        LotAllocation(entry_id=entry_id, lot=lot, points=draw)
        for entry_id, lot, draw in draws
        if draw
    )
    events_record(items, at=now)


def _notification(occasion: Occasion, membership: Membership, points: int) -> NotificationSpec:
    return NotificationSpec(
        customer_id=membership.customer_id,
        membership_id=membership.pk,
        kind=NotificationKind.OCCASION,
        cause_key=f"occasion:{occasion.key}",
        params={
            "program": membership.program.name,
            "points": points,
            "occasion": occasion.kind,
            "years": occasion.years,
            "day": occasion.day.isoformat(),
        },
    )
