"""The seeds' figures per program on the dashboard (issue 17): repurchase rate (buyers
with more than one purchase / all buyers), upsell ratio (buyers of more than one product
/ buyers of one), historical CLV (customer value per year x average lifetime in years),
retention and churn per period. Hand-computed on purchases at chosen times; the
snapshots are built as of 1 January 2026, 00:00 in Berlin."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from programs.services.memberships import membership_enroll
from programs.services.purchases import LineData, purchase_record
from surveys.program_figures import program_figures, retention_series
from surveys.selectors import Filters, latest_stocks
from surveys.services.snapshots import snapshots_build
from tests.factories import CustomerFactory, PartnerFactory, ProgramFactory

pytestmark = pytest.mark.django_db
DASHBOARD = "/admin/surveys/metricsdashboard/"
BUILT = timezone.make_aware(datetime(2026, 1, 1))


def at(year, month, day, hour=12):
    return timezone.make_aware(datetime(year, month, day, hour))


@pytest.fixture
def coffee():
    return ProgramFactory(slug="kaffee", name="Kaffee")


@pytest.fixture
def shop(coffee):
    partner = PartnerFactory(programs=[coffee])
    orders = iter(range(1000))

    def buy(membership, when, *products):
        """Products as (sku, price): one line each."""
        lines = [LineData(sku, "", 1, Decimal(price)) for sku, price in products]
        purchase_record(
            partner=partner,
            membership=membership,
            order_id=f"f-{next(orders)}",
            amount=sum((line.amount for line in lines), Decimal(0)),
            currency="EUR",
            occurred_at=when,
            lines=lines,
            award_now=True,
        )

    return buy


def member(program):
    return membership_enroll(customer=CustomerFactory(), program=program)[0]


def figures(months=12, granularity="month", today=date(2026, 1, 15)):
    filters = Filters(months=months, granularity=granularity)
    retention = retention_series(filters, today=today)
    return program_figures(filters, stocks=latest_stocks(filters), retention=retention)


def test_repurchase_upsell_and_historical_clv(admin_client, coffee, shop):
    a, b, c = member(coffee), member(coffee), member(coffee)
    shop(a, at(2023, 3, 1), ("BOH-1", "20.00"))  # A's first purchase, before the window
    shop(a, at(2025, 3, 1), ("BOH-1", "30.00"))
    shop(a, at(2025, 12, 1), ("BOH-1", "20.00"), ("TASSE", "30.00"))
    shop(b, at(2025, 6, 15), ("BOH-2", "40.00"))
    shop(c, at(2024, 6, 15), ("BOH-1", "25.00"))  # before the window: not a buyer
    snapshots_build(months=None, now=BUILT)

    (kaffee,) = figures(months=12)
    # The window: 12 months up to 1 Jan 2026 00:00, from 1 Feb 2025: 334 days.
    assert kaffee.window_days == 334
    # Buyers A and B; A bought twice: repurchase rate 1 / 2
    assert (kaffee.window["buyers"], kaffee.window["repeat_buyers"]) == (2, 1)
    assert kaffee.repurchase_rate == 0.5
    # A bought BOH-1 and TASSE (more than one product), B only BOH-2: upsell 1 / 1
    assert kaffee.upsell_ratio == 1.0
    # average purchase value (30 + 50 + 40) / 3 = 40; purchases per buyer and year
    # 3 / 2 / (334 / 365.25); lifetime: A from 1 Mar 2023 to 1 Dec 2025 = 731 + 275 = 1006
    # days, B 0 days: mean 503 days = 503 / 365.25 years.
    # CLV = 40 * 1.5 * 365.25 / 334 * 503 / 365.25 = 60 * 503 / 334 = 90.359... -> 90.36
    assert kaffee.shown_avg_purchase_value == Decimal("40.00")
    assert kaffee.shown_clv == Decimal("90.36")
    html = admin_client.get(DASHBOARD, {"months": 12}).content.decode()
    assert "90,36 EUR" in html


def test_retention_and_churn_per_month(coffee, shop):
    d, e, f = member(coffee), member(coffee), member(coffee)
    shop(d, at(2025, 10, 5), ("BOH-1", "10.00"))
    shop(e, at(2025, 10, 20), ("BOH-1", "10.00"))
    shop(d, at(2025, 11, 5), ("BOH-1", "10.00"))
    shop(f, at(2025, 11, 25), ("BOH-1", "10.00"))
    snapshots_build(months=None, now=BUILT)

    labels, series = retention_series(Filters(months=6), today=date(2026, 1, 15))
    # complete months of the window (Aug 2025 - Jan 2026, January not over on 15 Jan)
    # with buyers in them or the month before: October, November, December
    assert labels == ["2025-10", "2025-11", "2025-12"]
    (counts,) = series.values()
    # October: nobody bought in September: retention undefined
    # November: of October's D and E, D bought again: 1 / 2
    # December: of November's D and F, nobody: 0 / 2
    assert counts == [
        {"buyers": 2, "buyers_before": 0, "buyers_retained": 0},
        {"buyers": 2, "buyers_before": 2, "buyers_retained": 1},
        {"buyers": 0, "buyers_before": 2, "buyers_retained": 0},
    ]
    (kaffee,) = figures(months=6)
    # the last complete month, December: retention 0 / 2 = 0, churn 1 - 0 = 1
    assert (kaffee.retention_period, kaffee.retention, kaffee.churn) == ("2025-12", 0.0, 1.0)
    # per quarter: Q4 2025 against Q3 2025, when nobody bought: undefined
    labels, series = retention_series(
        Filters(months=6, granularity="quarter"), today=date(2026, 1, 15)
    )
    assert labels == ["2025 Q4"]
    assert list(series.values()) == [[{"buyers": 3, "buyers_before": 0, "buyers_retained": 0}]]
