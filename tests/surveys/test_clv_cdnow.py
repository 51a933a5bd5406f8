"""Predictive CLV: hand-computed checks and the CDNOW reference fits.

The reference numbers are the published ones for the CDNOW sample (see data/README.md):
BG/NBD in Fader, Hardie & Lee (2005, Marketing Science), Gamma-Gamma in Fader, Hardie &
Lee (2005, JMR) and Hardie's note 025.
"""

import csv
from pathlib import Path

import numpy as np
import pytest

from surveys.metrics.clv import (
    BgNbdParams,
    GammaGammaParams,
    expected_average_spend,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    predictive_clv,
    probability_alive,
)

CDNOW_CSV = Path(__file__).parent / "data" / "cdnow_customers_summary_with_transactions.csv"

# Parameters for which 2F1(r + x, b + x; a + b + x - 1; z) = (1 - z)^-(b + x) because
# a + b - 1 = r, so E[Y(t)] can be worked out by hand.
EASY_BGNBD = BgNbdParams(r=2.0, alpha=1.0, a=2.0, b=1.0, log_likelihood=float("nan"))
EASY_GAMMA_GAMMA = GammaGammaParams(p=2.0, q=3.0, v=10.0)


@pytest.fixture(scope="module")
def cdnow() -> dict[str, np.ndarray]:
    with CDNOW_CSV.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {column: np.array([float(row[column]) for row in rows]) for column in rows[0]}


@pytest.fixture(scope="module")
def cdnow_bgnbd(cdnow) -> BgNbdParams:
    return fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])


@pytest.fixture(scope="module")
def cdnow_gamma_gamma(cdnow) -> GammaGammaParams:
    return fit_gamma_gamma(cdnow["x"], cdnow["zbar"])


# --- CDNOW reference ----------------------------------------------------------------------


def test_cdnow_sample_has_2357_customers_946_with_repeat_purchases(cdnow):
    assert len(cdnow["x"]) == 2357
    assert int(np.sum(cdnow["x"] > 0)) == 946


def test_bgnbd_fit_reproduces_fader_hardie_lee_2005(cdnow_bgnbd):
    assert cdnow_bgnbd.r == pytest.approx(0.243, abs=0.001)
    assert cdnow_bgnbd.alpha == pytest.approx(4.414, abs=0.001)
    assert cdnow_bgnbd.a == pytest.approx(0.793, abs=0.001)
    assert cdnow_bgnbd.b == pytest.approx(2.426, abs=0.001)
    assert cdnow_bgnbd.log_likelihood == pytest.approx(-9582.4, abs=0.1)


def test_conditional_expectation_matches_hardie_spreadsheet(cdnow_bgnbd):
    # Customer with 2 repeat purchases, the last at week 30.43, observed for 38.86 weeks:
    # expected purchases in the next 39 weeks = 1.226 (Hardie's BG/NBD spreadsheet).
    assert expected_purchases(cdnow_bgnbd, 39, 2, 30.43, 38.86) == pytest.approx(1.226, abs=1e-3)


def test_gamma_gamma_fit_reproduces_published_figures(cdnow_gamma_gamma):
    assert cdnow_gamma_gamma.p == pytest.approx(6.25, abs=0.01)
    assert cdnow_gamma_gamma.q == pytest.approx(3.74, abs=0.01)
    assert cdnow_gamma_gamma.v == pytest.approx(15.44, abs=0.01)


def test_gamma_gamma_fit_uses_only_customers_with_repeat_purchases(cdnow, cdnow_gamma_gamma):
    repeaters = cdnow["x"] > 0
    assert fit_gamma_gamma(cdnow["x"][repeaters], cdnow["zbar"][repeaters]) == cdnow_gamma_gamma


def test_expected_spend_matches_hardie_note_025_spreadsheet(cdnow, cdnow_gamma_gamma):
    first_ten = slice(0, 10)
    expected = [24.65, 18.91, 35.17, 35.17, 35.17, 71.46, 18.91, 35.17, 27.28, 35.17]
    spend = expected_average_spend(
        cdnow_gamma_gamma, cdnow["x"][first_ten], cdnow["zbar"][first_ten]
    )
    np.testing.assert_allclose(spend, expected, atol=0.01)


def test_predictive_clv_of_whole_cdnow_sample_is_finite_and_positive(
    cdnow, cdnow_bgnbd, cdnow_gamma_gamma
):
    clv = predictive_clv(
        cdnow_bgnbd,
        cdnow_gamma_gamma,
        cdnow["x"],
        cdnow["t_x"],
        cdnow["T"],
        cdnow["zbar"],
        months=12,
        monthly_discount_rate=0.01,
        periods_per_month=365.25 / 12 / 7,
    )
    assert clv.shape == (2357,)
    assert np.all(np.isfinite(clv))
    assert np.all(clv > 0)


# --- hand-computed checks -----------------------------------------------------------------


def test_probability_alive_by_hand():
    # odds = a / (b + x - 1) * ((alpha + T) / (alpha + t_x))^(r + x) = 2 / 1 * (4 / 2)^3 = 16
    # P(alive) = 1 / (1 + 16) = 1 / 17
    assert probability_alive(EASY_BGNBD, 1, 1.0, 3.0) == pytest.approx(1 / 17)


def test_customer_without_repeat_purchase_is_alive():
    np.testing.assert_array_equal(probability_alive(EASY_BGNBD, [0, 0], [0.0, 0.0], [1, 50]), 1.0)


def test_expected_purchases_by_hand_without_repeat_purchase():
    # x = 0, T = 1, t = 2: z = 2 / 4, 2F1 = (1 - 0.5)^-1 = 2, ((1 + 1) / 4)^2 = 0.25
    # E = (2 + 1 - 1) / (2 - 1) * (1 - 0.25 * 2) = 1.0
    assert expected_purchases(EASY_BGNBD, 2.0, 0, 0.0, 1.0) == pytest.approx(1.0)


def test_expected_purchases_by_hand_with_repeat_purchase():
    # x = 1, t_x = 1, T = 3, t = 4: z = 4 / 8, 2F1 = (1 - 0.5)^-2 = 4, (4 / 8)^3 = 1 / 8
    # unconditional part = (2 + 1 + 1 - 1) / (2 - 1) * (1 - 4 / 8) = 1.5; P(alive) = 1 / 17
    assert expected_purchases(EASY_BGNBD, 4.0, 1, 1.0, 3.0) == pytest.approx(1.5 / 17)


def test_expected_purchases_in_no_time_is_zero():
    assert expected_purchases(EASY_BGNBD, 0.0, 3, 2.0, 5.0) == pytest.approx(0.0)


def test_expected_spend_by_hand():
    # x = 0: population mean p v / (q - 1) = 2 * 10 / 2 = 10
    # x = 2, m_x = 25: p (v + x m_x) / (p x + q - 1) = 2 * (10 + 50) / (4 + 2) = 20
    spend = expected_average_spend(EASY_GAMMA_GAMMA, [0, 2], [0.0, 25.0])
    np.testing.assert_allclose(spend, [10.0, 20.0])


def test_expected_spend_undefined_for_q_at_most_one():
    with pytest.raises(ValueError, match="q <= 1"):
        expected_average_spend(GammaGammaParams(p=2.0, q=1.0, v=10.0), 2, 25.0)


def test_predictive_clv_by_hand():
    # x = 0, T = 1: E[Y(1)] = 2 * (1 - (2/3)^2 * 1.5) = 2/3, E[Y(2)] = 1 (see above)
    # month 1: 2/3 purchases, month 2: 1/3; spend 10; d = 0.1
    # CLV = 10 * (2/3 / 1.1 + 1/3 / 1.21) = 8.815427
    clv = predictive_clv(
        EASY_BGNBD,
        EASY_GAMMA_GAMMA,
        0,
        0.0,
        1.0,
        0.0,
        months=2,
        monthly_discount_rate=0.1,
    )
    assert clv == pytest.approx(8.815427, abs=1e-6)


def test_undiscounted_clv_is_spend_times_expected_purchases():
    # d = 0, two months of 1 period: 10 * E[Y(2)] = 10 * 1.0
    clv = predictive_clv(
        EASY_BGNBD,
        EASY_GAMMA_GAMMA,
        [0, 0],
        [0.0, 0.0],
        [1.0, 1.0],
        [0.0, 0.0],
        months=2,
        monthly_discount_rate=0.0,
    )
    np.testing.assert_allclose(clv, [10.0, 10.0])


@pytest.mark.parametrize(
    ("frequency", "recency", "T"),
    [(-1, 0.0, 5.0), (1.5, 1.0, 5.0), (2, 6.0, 5.0), (0, 1.0, 5.0)],
)
def test_rfm_inputs_are_validated(frequency, recency, T):
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        probability_alive(EASY_BGNBD, frequency, recency, T)


def test_gamma_gamma_needs_a_repeat_customer():
    with pytest.raises(ValueError, match="at least one customer"):
        fit_gamma_gamma([0, 0], [0.0, 0.0])


def test_gamma_gamma_rejects_non_positive_spend_of_repeat_customers():
    with pytest.raises(ValueError, match="monetary_value must be > 0"):
        fit_gamma_gamma([1, 2], [10.0, 0.0])
