"""Coalition settlement: who owes whom for the points of one program in one month.

Points are a liability. A partner whose customers earn points *issues* them and owes the
operator their value; a partner that *accepts* points delivers that value and is owed it.
The operator (the program itself) issues and extinguishes points of its own. Every figure
comes from the ledger, read with a few set-based aggregates (no loop over entries).

The month is a calendar month in the site's time zone (``TIME_ZONE``); an entry counts in
the month of its ``effective_at`` (its business time), a used voucher in the month of its
``used_at``. Per entry, the points that count are ``points + pending_points +
held_points``: the change of the points the member owns (available, pending and held).

Issued (the issuer's row):

* ``earn``: points and pending points alike, at earn time. Pending points count when they
  are earned, not when they become available: a ``release`` entry only moves them from
  pending to available and counts nowhere. A purchase's points are the purchase's partner's
  (the award records it as the actor); an action's points the partner that reported it.
  Referral bonuses, birthday and anniversary bonuses, survey points and anything no partner
  caused are the operator's.
* ``reverse``: returns take points back from the row that issued them: the purchase's
  partner (whoever recorded the return: the partner, staff, or a cancellation that gives a
  returned purchase's points back), the operator for a referral bonus. A return counts in
  the month of the purchase it undoes (its ``effective_at`` is the purchase's date), so a
  late return changes that month's report; settle a month once its return window is over.
* ``adjust``: staff adjustments are the operator's, added with their sign (a correction
  of points issued).

Redeemed (the row that delivered the value):

* ``capture`` and ``capture_refund``: points paid at a till are redeemed at the partner
  that placed the hold (``PointsHold.partner``); a refund of the order gives its share back
  and nets out there. ``hold`` and ``hold_release`` only reserve and free points and count
  nowhere.
* ``redeem`` of a reward through a partner's API: redeemed at that partner when redeemed;
  its cancellation (``redeem_cancel``, whoever cancels) nets out at the same partner. If
  its voucher is later used at another partner's till, it moves from the one to the other
  in the month it is used.
* ``redeem`` of a reward elsewhere (the portal, staff): the points are burned when the
  voucher is issued, but no partner has delivered anything yet. They stay on the
  operator's row as *redeemed, not yet used* until the voucher is used: in the month of
  ``used_at`` they move to the partner that used it (``used_by_partner``; to the operator's
  own redemptions if no partner is recorded). A cancellation nets out of *not yet used*. A
  voucher that is never used (or expires unused) stays with the operator.
* ``expire``: expired points leave the liability on the operator's row.

Money: ``value = points x Program.point_value`` (the program's point value when the report
is made), rounded half up to the currency's smallest unit, each figure once from its
points. ``net = value issued - value redeemed``, also rounded once from the points:
positive, the partner owes the operator; negative, the operator owes the partner. With a
point value of whole cents (0.01, 0.05) the three figures agree exactly; with sub-cent
values ``net`` is the figure to pay.

Reconciliation: summed over all rows (partners and operator), ``points issued`` equals
the month's ledger sum of earn, reverse and adjust entries, ``points redeemed`` minus the
sum of redeem, redeem_cancel, capture, capture_refund and expire entries (a voucher used
only moves points from the operator's row to a partner's), and issued - redeemed the
month's net change of all entries. ``ledger_month_sums`` reads those sums directly.
"""

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db.models import Case, F, IntegerField, OuterRef, Q, Subquery, Sum, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from programs.models import (
    EntryKind,
    LedgerEntry,
    Partner,
    PointsHold,
    Program,
    Purchase,
    RedemptionStatus,
)
from programs.models.program import EARLIEST_HISTORY

ISSUING = (EntryKind.EARN, EntryKind.REVERSE, EntryKind.ADJUST)
REDEEMING = (
    EntryKind.REDEEM,
    EntryKind.REDEEM_CANCEL,
    EntryKind.CAPTURE,
    EntryKind.CAPTURE_REFUND,
    EntryKind.EXPIRE,
)
# Move points between available, pending and held: they never change what a member owns.
# A merge moves points between two memberships of one program.
NEUTRAL = (
    EntryKind.RELEASE,
    EntryKind.HOLD,
    EntryKind.HOLD_RELEASE,
    EntryKind.MERGE_OUT,
    EntryKind.MERGE_IN,
)
VOUCHER = (EntryKind.REDEEM, EntryKind.REDEEM_CANCEL)

_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


class MonthInvalid(ValueError):
    """A month the settlement cannot be made for; ``code`` says why."""

    def __init__(self, message, code: str):
        super().__init__(message)
        self.message, self.code = message, code


def month_parse(text: str, *, today: date | None = None) -> date:
    """The first day of the month ``YYYY-MM``; a month before the earliest history or
    after the current one is refused (``MonthInvalid``)."""
    found = _MONTH.fullmatch(text or "")
    if found is None or not 1 <= int(found[2]) <= 12:
        raise MonthInvalid(_("Give the month as YYYY-MM, e.g. 2026-03."), "invalid")
    year, number = int(found[1]), int(found[2])
    if (year, number) < (EARLIEST_HISTORY.year, EARLIEST_HISTORY.month):
        raise MonthInvalid(
            _("Settlements start in %(year)s; give a later month.")
            % {"year": EARLIEST_HISTORY.year},
            "before_history_start",
        )
    month = date(year, number, 1)
    if month > (today or timezone.localdate()).replace(day=1):
        raise MonthInvalid(
            _("The month %(month)s has not begun yet; give this month or an earlier one.")
            % {"month": text},
            "future",
        )
    return month


def last_month(today: date | None = None) -> date:
    return (today or timezone.localdate()).replace(day=1) - relativedelta(months=1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """[start, end) of the calendar month in the site's time zone."""
    zone = timezone.get_default_timezone()
    following = month.replace(day=1) + relativedelta(months=1)
    return (
        datetime(month.year, month.month, 1, tzinfo=zone),
        datetime(following.year, following.month, 1, tzinfo=zone),
    )


@dataclass(frozen=True)
class SettlementFigures:
    """Points issued and redeemed and what they are worth (see the module docstring)."""

    points_issued: int
    points_redeemed: int
    value_issued: Decimal
    value_redeemed: Decimal
    net: Decimal  # > 0: owed to the operator; < 0: the operator owes it
    currency: str

    @property
    def points_net(self) -> int:
        return self.points_issued - self.points_redeemed


@dataclass(frozen=True)
class SettlementRow(SettlementFigures):
    """One partner's figures, or the operator's (``partner`` None). Of the operator's
    ``points_redeemed``, ``points_not_yet_used`` are vouchers redeemed but not used at a
    partner (the month's change: issued minus used minus cancelled) and ``points_expired``
    expired points; both are 0 on a partner's row."""

    partner: Partner | None = None
    points_not_yet_used: int = 0
    points_expired: int = 0

    @property
    def is_operator(self) -> bool:
        return self.partner is None


def money(points: int, program: Program) -> Decimal:
    """``points`` at the program's point value, rounded half up to the currency's unit."""
    unit = Decimal(1).scaleb(-settings.CURRENCY_DECIMALS.get(program.currency, 2))
    return (points * Decimal(program.point_value)).quantize(unit, rounding=ROUND_HALF_UP)


def _money_fields(program: Program, issued: int, redeemed: int) -> dict:
    return {
        "points_issued": issued,
        "points_redeemed": redeemed,
        "value_issued": money(issued, program),
        "value_redeemed": money(redeemed, program),
        "net": money(issued - redeemed, program),
        "currency": program.currency,
    }


def _month_entries(program: Program, month: date):
    start, end = month_bounds(month)
    return LedgerEntry.objects.filter(
        membership__program=program, effective_at__gte=start, effective_at__lt=end
    )


def _party():
    """The partner an entry is settled with (None: the operator), by the rules above.
    The subqueries run only for the few entries whose branch needs them."""
    purchase_partner = Purchase.objects.filter(pk=OuterRef("purchase_id")).values("partner_id")
    hold_partner = PointsHold.objects.filter(pk=OuterRef("hold_id")).values("partner_id")
    redeemed_by = LedgerEntry.objects.filter(
        redemption_id=OuterRef("redemption_id"), kind=EntryKind.REDEEM
    ).values("actor_partner_id")
    purchase_partner, hold_partner, redeemed_by = (
        query.order_by() for query in (purchase_partner, hold_partner, redeemed_by)
    )
    issue = (EntryKind.EARN, EntryKind.REVERSE)
    return Case(
        When(kind__in=issue, referral_id__isnull=False, then=Value(None)),
        When(kind=EntryKind.REVERSE, purchase_id__isnull=False, then=Subquery(purchase_partner)),
        When(kind__in=issue, then=F("actor_partner_id")),
        When(kind__in=(EntryKind.CAPTURE, EntryKind.CAPTURE_REFUND), then=Subquery(hold_partner)),
        When(kind=EntryKind.REDEEM, then=F("actor_partner_id")),
        When(kind=EntryKind.REDEEM_CANCEL, then=Subquery(redeemed_by[:1])),
        default=Value(None),
        output_field=IntegerField(),
    )


def _moved():
    return Sum(F("points") + F("pending_points") + F("held_points"))


def _vouchers_used(program: Program, month: date):
    """(redeeming partner or None, using partner or None, points) of the vouchers used in
    the month, as their redeem entries burned them."""
    start, end = month_bounds(month)
    return (
        LedgerEntry.objects.filter(
            membership__program=program,
            kind=EntryKind.REDEEM,
            redemption__status=RedemptionStatus.USED,
            redemption__used_at__gte=start,
            redemption__used_at__lt=end,
        )
        .values_list("actor_partner_id", "redemption__used_by_partner_id")
        .annotate(points=-Sum("points"))
        .order_by()
    )


def _by_name(partner: Partner) -> tuple[str, int]:
    """Alphabetical as in a German list ("Bäckerei" before "Buchhandlung"), whatever the
    database's collation."""
    letters = unicodedata.normalize("NFKD", partner.name)
    return "".join(c for c in letters if not unicodedata.combining(c)).casefold(), partner.pk


def settlement_rows(program: Program, month: date) -> list[SettlementRow]:
    """A row per partner of the program (and per former partner with figures in the month),
    by name, then the operator's row. ``month``: any day of the month."""
    month = month.replace(day=1)
    grouped = (
        _month_entries(program, month)
        .exclude(kind__in=NEUTRAL)
        .annotate(party=_party())
        .values_list("kind", "party")
        .annotate(points=_moved())
        .order_by()
    )
    issued: dict[int | None, int] = defaultdict(int)
    redeemed: dict[int | None, int] = defaultdict(int)
    not_yet_used = expired = 0
    for kind, party, points in grouped:
        if kind in ISSUING:
            issued[party] += points
        elif kind == EntryKind.EXPIRE:
            redeemed[None] -= points
            expired -= points
        else:
            redeemed[party] -= points
            if kind in VOUCHER and party is None:
                not_yet_used -= points
    for redeemed_by, used_by, points in _vouchers_used(program, month):
        if redeemed_by is None:  # from "not yet used" to where it was used
            redeemed[None] -= points
            redeemed[used_by] += points
            not_yet_used -= points
        elif used_by is not None and used_by != redeemed_by:
            redeemed[redeemed_by] -= points
            redeemed[used_by] += points
    partners = Partner.objects.filter(
        Q(programs=program) | Q(pk__in=[pk for pk in (*issued, *redeemed) if pk is not None])
    ).distinct()
    rows = [
        SettlementRow(
            partner=partner, **_money_fields(program, issued[partner.pk], redeemed[partner.pk])
        )
        for partner in sorted(partners, key=_by_name)
    ]
    rows.append(
        SettlementRow(
            partner=None,
            points_not_yet_used=not_yet_used,
            points_expired=expired,
            **_money_fields(program, issued[None], redeemed[None]),
        )
    )
    return rows


def settlement_totals(program: Program, rows: list[SettlementRow]) -> SettlementFigures:
    """The program's figures: the rows' points summed, their money rounded once."""
    return SettlementFigures(
        **_money_fields(
            program,
            sum(row.points_issued for row in rows),
            sum(row.points_redeemed for row in rows),
        )
    )


@dataclass(frozen=True)
class LedgerMonth:
    issued: int  # earn + reverse + adjust
    redeemed: int  # -(redeem + redeem_cancel + capture + capture_refund + expire)
    net: int  # every entry of the month

    def matches(self, totals: SettlementFigures) -> bool:
        return (totals.points_issued, totals.points_redeemed, totals.points_net) == (
            self.issued,
            self.redeemed,
            self.net,
        )


def ledger_month_sums(program: Program, month: date) -> LedgerMonth:
    """The month's ledger sums the settlement's totals must equal, read straight from the
    entries by kind (one aggregate)."""
    moved = F("points") + F("pending_points") + F("held_points")
    sums = _month_entries(program, month.replace(day=1)).aggregate(
        issued=Sum(moved, filter=Q(kind__in=ISSUING), default=0),
        redeemed=Sum(moved, filter=Q(kind__in=REDEEMING), default=0),
        net=Sum(moved, default=0),
    )
    return LedgerMonth(issued=sums["issued"], redeemed=-sums["redeemed"], net=sums["net"])
