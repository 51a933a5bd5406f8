"""The coalition settlement of a month (``programs.settlement``): a small coalition worked
out by hand, and the reconciliation of every report with the ledger.

The coalition (``settlement_world``): the city card, a point worth 0.05 EUR; the bakery A,
the bookshop B and the operator; members Erika and Max. What happens in March 2026:

  03-02  Erika buys for 300.00 at A                 earn 300 (pending)     A issues +300
  03-03  Max buys for 150.00 at B                   earn 150 (pending)     B issues +150
  03-05  Erika returns 20.00 of her February order  reverse -20, effective 02-20: February
  03-10  the pending points become available        release: counts nowhere
  03-11  Max's 40 points from March 2024 expire     expire -40             operator +40 out
  03-12  Erika returns 50.00 of the 03-02 order     reverse -50            A issues -50
  03-14  Erika redeems two cinema vouchers (100)    redeem -100 -100       operator, not yet used
  03-15  Max redeems a cinema voucher               redeem -100            operator, not yet used
  03-16  Erika's first voucher is used at B         (no entry)             not yet used -> B
  03-18  Erika pays 6.00 of order A-KASSE-7 at A    hold 200, capture 120  A redeems +120
  03-18  A records order A-KASSE-7, 30.00           earn 30 (pending)      A issues +30
  03-20  Erika cancels her second voucher           redeem_cancel +100     operator, not yet used
  03-25  A refunds 15.00 of A-KASSE-7 (half)        reverse -15            A issues -15
                                                    capture_refund +60     A redeems -60
  03-26  staff: +25 goodwill for Max, -10 for Erika adjust +25, -10        operator issues +15

  02-20 (Erika buys for 200.00 at A) and 04-02 (Max buys for 80.00 at B) are the
  neighbouring months' and must not count in March.
"""

from collections import Counter
from datetime import date
from decimal import Decimal

import pytest
from django.db.models import F, Sum

from programs.models import EntryKind, LedgerEntry, Membership
from programs.services.ledger import Actor
from programs.services.rewards import reward_redeem
from programs.settlement import (
    MonthInvalid,
    ledger_month_sums,
    month_bounds,
    month_parse,
    settlement_rows,
    settlement_totals,
)
from tests.factories import RewardFactory
from tests.programs.settlement_world import Coalition, at, clock, coalition_build, use_at

pytestmark = pytest.mark.django_db

MARCH = date(2026, 3, 1)


@pytest.fixture
def coalition() -> Coalition:
    return coalition_build()


def by_name(rows) -> dict:
    return {(row.partner.name if row.partner else "operator"): row for row in rows}


def figures(row) -> tuple:
    return (row.points_issued, row.points_redeemed, row.value_issued, row.value_redeemed, row.net)


def test_march_worked_out_by_hand(coalition):
    rows = by_name(settlement_rows(coalition.program, MARCH))

    # A issues 300 - 50 + 30 - 15 = 265 points (the -20 of the February order count in
    # February) and redeems the 120 captured less the 60 refunded = 60 points:
    # 265 x 0.05 = 13.25, 60 x 0.05 = 3.00, A owes the operator 13.25 - 3.00 = 10.25.
    bakery = rows["Bäckerei Korn"]
    assert figures(bakery) == (265, 60, Decimal("13.25"), Decimal("3.00"), Decimal("10.25"))

    # B issues 150 and takes Erika's voucher of 100 points:
    # 7.50 - 5.00 = 2.50 owed to the operator.
    bookshop = rows["Buchhandlung Seite"]
    assert figures(bookshop) == (150, 100, Decimal("7.50"), Decimal("5.00"), Decimal("2.50"))

    # The operator issues the staff adjustments, +25 - 10 = 15 points (0.75), and takes out
    # the 40 expired points plus the vouchers not yet used: three redeemed (300) less the
    # one used at B (100) less the one cancelled (100) = 100, so 140 points (7.00).
    operator = rows["operator"]
    assert operator.is_operator
    assert figures(operator) == (15, 140, Decimal("0.75"), Decimal("7.00"), Decimal("-6.25"))
    assert (operator.points_not_yet_used, operator.points_expired) == (100, 40)
    assert (bakery.points_not_yet_used, bakery.points_expired) == (0, 0)

    # The program: 265 + 150 + 15 = 430 issued, 60 + 100 + 140 = 300 redeemed; the liability
    # grew by 130 points, 6.50 EUR.
    totals = settlement_totals(coalition.program, list(rows.values()))
    assert figures(totals) == (430, 300, Decimal("21.50"), Decimal("15.00"), Decimal("6.50"))
    assert {row.currency for row in rows.values()} == {"EUR"}


def test_rows_list_every_partner_by_name_then_the_operator(coalition):
    rows = settlement_rows(coalition.program, MARCH)
    assert [row.partner for row in rows] == [coalition.bakery, coalition.bookshop, None]


def test_neighbouring_months(coalition):
    # February: A issued 200 less the 20 returned on 03-05 (a return counts in the month
    # of the purchase it undoes); nothing was redeemed.
    february = by_name(settlement_rows(coalition.program, date(2026, 2, 1)))
    assert figures(february["Bäckerei Korn"]) == (
        180,
        0,
        Decimal("9.00"),
        Decimal(0),
        Decimal("9.00"),
    )
    assert figures(february["operator"])[:2] == (0, 0)
    # April: only Max's 80 points at B.
    april = by_name(settlement_rows(coalition.program, date(2026, 4, 1)))
    assert [figures(row)[:2] for row in april.values()] == [(0, 0), (80, 0), (0, 0)]


def test_a_voucher_used_in_a_later_month_moves_there(coalition):
    """Max's voucher (redeemed in March, unused then) is used at A in April: March keeps
    it on the operator's row; April moves it from the operator to A."""
    use_at(coalition.vouchers["unused"], coalition.bakery, at(2026, 4, 3))

    march = by_name(settlement_rows(coalition.program, MARCH))
    assert march["operator"].points_not_yet_used == 100
    april = by_name(settlement_rows(coalition.program, date(2026, 4, 1)))
    assert april["Bäckerei Korn"].points_redeemed == 100
    assert (april["operator"].points_redeemed, april["operator"].points_not_yet_used) == (
        -100,
        -100,
    )
    assert settlement_totals(coalition.program, list(april.values())).points_redeemed == 0


def _ledger_by_kind(program, month) -> Counter:
    start, end = month_bounds(month)
    entries = LedgerEntry.objects.filter(
        membership__program=program, effective_at__gte=start, effective_at__lt=end
    )
    moved = entries.values_list("kind").annotate(
        moved=Sum(F("points") + F("pending_points") + F("held_points"))
    )
    return Counter(dict(moved))


@pytest.mark.parametrize("month", [date(2024, 3, 1), date(2026, 2, 1), MARCH, date(2026, 4, 1)])
def test_the_columns_add_up_to_the_ledger(coalition, month):
    rows = settlement_rows(coalition.program, month)
    totals = settlement_totals(coalition.program, rows)
    kinds = _ledger_by_kind(coalition.program, month)

    issued = kinds[EntryKind.EARN] + kinds[EntryKind.REVERSE] + kinds[EntryKind.ADJUST]
    redeemed = -sum(
        kinds[kind]
        for kind in (
            EntryKind.REDEEM,
            EntryKind.REDEEM_CANCEL,
            EntryKind.CAPTURE,
            EntryKind.CAPTURE_REFUND,
            EntryKind.EXPIRE,
        )
    )
    assert sum(row.points_issued for row in rows) == totals.points_issued == issued
    assert sum(row.points_redeemed for row in rows) == totals.points_redeemed == redeemed
    assert totals.points_net == sum(kinds.values())  # release, hold, hold_release move 0
    assert ledger_month_sums(coalition.program, month).matches(totals)


def test_the_months_add_up_to_what_the_members_own(coalition):
    """Every entry falls in one month: the months' net points are the points the members
    own today (available, pending and held, less debts)."""
    months = {
        date(moment.year, moment.month, 1)
        for moment in LedgerEntry.objects.filter(membership__program=coalition.program).values_list(
            "effective_at", flat=True
        )
    }
    owned = Membership.objects.filter(program=coalition.program).aggregate(
        owned=Sum(F("balance") + F("pending") + F("held") - F("debt"))
    )["owned"]
    net = sum(
        settlement_totals(coalition.program, settlement_rows(coalition.program, month)).points_net
        for month in months
    )
    # Erika 260 + 15 pending, Max 75 + 80 pending.
    assert net == owned == 430


def test_a_partner_redemption_through_the_api_is_settled_where_it_was_redeemed(coalition):
    """A reward redeemed through B's API is B's at once; its voucher used later at A
    moves to A in that month."""
    mug = RewardFactory(program=coalition.program, name="Tasse", points_cost=50)
    with clock(at(2026, 3, 27)):
        voucher = reward_redeem(
            membership=coalition.max,
            reward=mug,
            actor=Actor.for_partner(coalition.bookshop),
            at=at(2026, 3, 27),
        )
    march = by_name(settlement_rows(coalition.program, MARCH))
    assert march["Buchhandlung Seite"].points_redeemed == 100 + 50
    assert march["operator"].points_not_yet_used == 100

    use_at(voucher, coalition.bakery, at(2026, 4, 1, 9))
    april = by_name(settlement_rows(coalition.program, date(2026, 4, 1)))
    assert april["Buchhandlung Seite"].points_redeemed == -50
    assert april["Bäckerei Korn"].points_redeemed == 50


def test_money_is_rounded_once_half_up(coalition):
    """At 0.0125 EUR a point, A's 265 issued points are 3.3125 -> 3.31, its 60 redeemed
    0.75; the net 205 x 0.0125 = 2.5625 -> 2.56 is rounded from the points."""
    coalition.program.point_value = Decimal("0.0125")
    coalition.program.save()
    bakery = by_name(settlement_rows(coalition.program, MARCH))["Bäckerei Korn"]
    assert figures(bakery) == (265, 60, Decimal("3.31"), Decimal("0.75"), Decimal("2.56"))


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("2026-3", "invalid"),
        ("03-2026", "invalid"),
        ("2026-13", "invalid"),
        ("", "invalid"),
        ("1989-12", "before_history_start"),
        ("0000-01", "before_history_start"),
        ("2999-01", "future"),
    ],
)
def test_a_month_that_cannot_be_settled_is_refused(text, code):
    with pytest.raises(MonthInvalid) as refused:
        month_parse(text, today=date(2026, 4, 15))
    assert refused.value.code == code


def test_month_bounds_are_local_calendar_months():
    assert month_parse("2026-04", today=date(2026, 4, 15)) == date(2026, 4, 1)
    start, end = month_bounds(date(2026, 3, 1))
    assert (start, end) == (at(2026, 3, 1, 0), at(2026, 4, 1, 0))  # DST begins on 03-29
    assert end.utcoffset() != start.utcoffset()
