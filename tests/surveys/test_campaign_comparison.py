"""The comparison formulas of the campaign results (surveys/metrics/comparison.py), checked
against published intervals and scipy's own implementation."""

from decimal import Decimal
from fractions import Fraction

import pytest
from scipy import stats

from surveys.metrics.comparison import (
    Sample,
    newcombe_difference,
    newcombe_interval,
    welch_difference,
)


def welch_ci(reached: list, holdout: list) -> tuple[float, float]:
    ci = stats.ttest_ind(reached, holdout, equal_var=False).confidence_interval(0.95)
    return ci.low, ci.high


def test_newcombe_matches_the_published_intervals():
    """Newcombe (1998), Table II, method 10."""
    for counts, expected in (
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
        ((0, 10, 0, 20), (-0.1611, 0.2775)),
        ((10, 10, 0, 20), (0.6791, 1.0000)),
    ):
        low, high = newcombe_interval(*counts)
        assert (round(low, 4), round(high, 4)) == expected, counts


def test_thirty_members_in_each_group_are_enough_twenty_nine_are_not():
    assert newcombe_difference(10, 30, 5, 30).low is not None
    few = newcombe_difference(10, 30, 5, 29)
    assert (few.note, few.low, few.high, few.estimate) == (
        "too_few",
        None,
        None,
        Fraction(10, 30) - Fraction(5, 29),
    )


def test_welch_with_money_matches_scipy_and_no_variation_gives_no_interval():
    reached = [Decimal("19.99")] * 20 + [Decimal("0.01")] * 15
    holdout = [Decimal("5.50")] * 10 + [Decimal(0)] * 25

    def sample(values):
        return Sample(len(values), sum(values), sum(v * v for v in values))

    found = welch_difference(sample(reached), sample(holdout))
    low, high = welch_ci([float(v) for v in reached], [float(v) for v in holdout])
    assert (found.low, found.high) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))
    flat = welch_difference(Sample(40, 0, 0), Sample(30, 0, 0))
    assert (flat.note, flat.low, flat.estimate, flat.lift) == ("no_variation", None, 0, None)
