"""Hand-computed answers for the activity, program-health and stored-totals formulas."""

from decimal import Decimal
from fractions import Fraction

import pytest

from surveys.metrics.formulas import (
    activity_band,
    ces,
    ces_from_totals,
    cli_from_answers,
    cli_from_totals,
    referral_conversion,
)
from surveys.metrics.points import (
    breakage_share,
    expected_breakage,
    money_round,
    points_liability,
    points_value,
    redemption_rate,
)


@pytest.mark.parametrize(
    ("days", "band"),
    [
        (0, "active"),
        (90, "active"),
        (91, "at_risk"),
        (180, "at_risk"),
        (181, "dormant"),
        (None, "dormant"),
    ],
)
def test_activity_band_boundaries(days, band):
    assert activity_band(days) == band


def test_activity_band_rejects_negative_days():
    with pytest.raises(ValueError, match=">= 0"):
        activity_band(-1)


def test_redemption_rate():
    assert redemption_rate(1000, 250) == 0.25
    assert redemption_rate(100, 150) == 1.5  # redeems points issued in earlier periods
    assert redemption_rate(0, 0) is None
    assert redemption_rate(0, 10) is None


def test_points_liability_in_euro():
    # 123 457 points x 0.01 EUR = 1 234.57 EUR
    assert points_liability(123_457, Decimal("0.01")) == Decimal("1234.57")
    # 3 points x 0.0125 = 0.0375 -> 0.04 (half up)
    assert points_liability(3, Decimal("0.0125")) == Decimal("0.04")
    assert points_liability(0, Decimal("0.01")) == Decimal("0.00")
    with pytest.raises(ValueError, match="must be >= 0"):
        points_liability(-1, Decimal("0.01"))


def test_referral_conversion():
    assert referral_conversion(8, 2) == 0.25
    assert referral_conversion(0, 0) is None
    with pytest.raises(ValueError, match="cannot exceed"):
        referral_conversion(2, 3)


def test_ces_from_totals_matches_ces_from_counts():
    counts = {2: 1, 5: 2, 7: 1}  # answers 2, 5, 5, 7: mean 19/4, agree 3/4
    assert ces_from_totals(19, 3, 4) == ces(counts)
    assert ces_from_totals(19, 3, 4).mean == 4.75
    assert ces_from_totals(0, 0, 0) is None
    with pytest.raises(ValueError, match="inconsistent"):
        ces_from_totals(8, 0, 1)  # one answer cannot sum to 8 on 1..7


def test_cli_from_totals_matches_cli_from_answers():
    rows = [(8, 10, 3), (6, 9, 0)]  # sum 36 over 2 respondents: 36 / 6 = 6
    assert cli_from_totals(36, 2) == pytest.approx(cli_from_answers(rows)) == pytest.approx(6.0)
    assert cli_from_totals(30, 1) == 10
    assert cli_from_totals(0, 0) is None
    with pytest.raises(ValueError, match="more than 30"):
        cli_from_totals(31, 1)


def test_points_value_is_exact_and_money_round_rounds_once():
    # 3 points at 0.005 = 0.015 each; two rows: 0.015 + 0.015 = 0.03 exact, 0.04 rounded per row
    rows = [points_value(3, Decimal("0.005")), points_value(3, Decimal("0.005"))]
    assert rows == [Decimal("0.015"), Decimal("0.015")]
    assert money_round(sum(rows)) == Decimal("0.03")
    assert sum(money_round(r) for r in rows) == Decimal("0.04")
    assert money_round(Decimal("12.5"), 0) == Decimal("13")  # a currency without cents
    assert money_round(Fraction(1, 3)) == Decimal("0.33")
    with pytest.raises(ValueError, match="must be >= 0"):
        points_value(-1, Decimal("0.01"))


def test_breakage_share_and_expected_breakage():
    # 1,000 points issued, 150 expired: 15 %; 400 outstanding at 0.01 = 4.00 x 15 % = 0.60
    share = breakage_share(1000, 150)
    assert share == Fraction(3, 20)
    assert expected_breakage(400, Decimal("0.01"), share) == Fraction(3, 5)
    assert breakage_share(0, 0) is None
    assert expected_breakage(400, Decimal("0.01"), None) is None
    with pytest.raises(ValueError, match="cannot exceed"):
        breakage_share(10, 11)
