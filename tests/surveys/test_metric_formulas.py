"""Hand-computed checks of the survey and loyalty formulas in surveys.metrics.formulas."""

from decimal import Decimal

import pytest

from surveys.metrics.formulas import (
    MIN_ANSWERS,
    CesResult,
    NpsResult,
    ces,
    churn_rate,
    cli,
    cli_from_answers,
    csat,
    customer_value,
    historical_clv,
    nps,
    nps_bucket,
    nps_report,
    repurchase_rate,
    retention_rate,
    upsell_ratio,
)

# --- NPS ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "bucket"),
    [
        (0, "detractor"),
        (6, "detractor"),
        (7, "passive"),
        (8, "passive"),
        (9, "promoter"),
        (10, "promoter"),
    ],
)
def test_nps_bucket_boundaries(score, bucket):
    assert nps_bucket(score) == bucket


@pytest.mark.parametrize("score", [-1, 11, 9.5])
def test_nps_bucket_rejects_answers_off_the_0_to_10_scale(score):
    with pytest.raises(ValueError, match=r"outside 0\.\.10"):
        nps_bucket(score)


def test_nps_without_responses_is_undefined_not_zero():
    assert nps(0, 0, 0) is None


def test_nps_mixed_example():
    # n = 100, p = 0.5, d = 0.2 -> NPS = 100 * (0.5 - 0.2) = 30
    # Var = 0.5 + 0.2 - 0.3^2 = 0.61; SE = 100 * sqrt(0.61 / 100) = 7.81025
    # margin = 1.96 * 7.81025 = 15.30809
    result = nps(promoters=50, passives=30, detractors=20)
    assert result.score == pytest.approx(30.0)
    assert result.n == 100
    assert result.promoter_share == pytest.approx(0.5)
    assert result.detractor_share == pytest.approx(0.2)
    assert result.standard_error == pytest.approx(7.81025, abs=1e-5)
    assert result.margin_of_error == pytest.approx(15.30809, abs=1e-5)


def test_nps_small_mixed_example_matches_variance_of_plus_one_zero_minus_one_scores():
    # answers +1, +1, 0, -1: mean 0.25 -> NPS 25; E[s^2] = 3/4, Var = 0.75 - 0.25^2 = 0.6875
    # SE = 100 * sqrt(0.6875 / 4) = 100 * 0.4145781 = 41.45781
    result = nps(promoters=2, passives=1, detractors=1)
    assert result.score == pytest.approx(25.0)
    assert result.standard_error == pytest.approx(41.45781, abs=1e-5)
    assert result.margin_of_error == pytest.approx(1.96 * 41.45781, abs=1e-4)


def test_nps_all_promoters_is_100_with_zero_error():
    assert nps(40, 0, 0) == NpsResult(
        score=100.0,
        n=40,
        promoter_share=1.0,
        detractor_share=0.0,
        standard_error=0.0,
        margin_of_error=0.0,
    )


def test_nps_all_detractors_is_minus_100_with_zero_error():
    result = nps(0, 0, 7)
    assert result.score == -100.0
    assert result.detractor_share == 1.0
    assert result.standard_error == 0.0


@pytest.mark.parametrize(
    ("counts", "score"), [((1, 0, 0), 100.0), ((0, 1, 0), 0.0), ((0, 0, 1), -100.0)]
)
def test_nps_single_response(counts, score):
    result = nps(*counts)
    assert result.n == 1
    assert result.score == score
    assert result.margin_of_error == 0.0


def test_nps_rejects_negative_counts():
    with pytest.raises(ValueError, match="passives must be >= 0"):
        nps(3, -1, 2)


# --- CSAT and CES -------------------------------------------------------------------------


def test_csat_share_of_four_and_five():
    # n = 1 + 1 + 2 + 4 + 2 = 10; satisfied = 4 + 2 = 6 -> 0.6
    assert csat({1: 1, 2: 1, 3: 2, 4: 4, 5: 2}) == pytest.approx(0.6)


def test_csat_single_response():
    assert csat({5: 1}) == 1.0
    assert csat({3: 1}) == 0.0


@pytest.mark.parametrize("counts", [{}, {4: 0, 2: 0}])
def test_csat_without_responses_is_undefined(counts):
    assert csat(counts) is None


@pytest.mark.parametrize("counts", [{0: 1}, {6: 1}])
def test_csat_rejects_answers_off_the_1_to_5_scale(counts):
    with pytest.raises(ValueError, match=r"outside 1\.\.5"):
        csat(counts)


def test_csat_rejects_negative_counts():
    with pytest.raises(ValueError, match="count of answer 4 must be >= 0"):
        csat({4: -1, 5: 3})


def test_ces_mean_and_agree_share():
    # n = 5; total = 1*1 + 4*1 + 5*2 + 7*1 = 22 -> mean 4.4; answers 5-7: 3 of 5 -> 0.6
    assert ces({1: 1, 4: 1, 5: 2, 7: 1}) == CesResult(mean=pytest.approx(4.4), agree_share=0.6, n=5)


def test_ces_single_response():
    assert ces({3: 1}) == CesResult(mean=3.0, agree_share=0.0, n=1)


def test_ces_without_responses_is_undefined():
    assert ces({}) is None


def test_ces_rejects_answers_off_the_1_to_7_scale():
    with pytest.raises(ValueError, match=r"outside 1\.\.7"):
        ces({8: 2})


# --- CLI ----------------------------------------------------------------------------------


def test_cli_is_mean_of_the_three_question_means():
    # (9 + 8 + 7) / 3 = 8
    assert cli(9.0, 8.0, 7.0) == pytest.approx(8.0)


def test_cli_rejects_means_off_the_scale():
    with pytest.raises(ValueError, match=r"0\.\.10"):
        cli(9.0, 10.5, 7.0)


def test_cli_from_answers():
    # question means: recommend (10 + 8) / 2 = 9, buy again (8 + 6) / 2 = 7,
    # try other (6 + 4) / 2 = 5 -> CLI = (9 + 7 + 5) / 3 = 7
    assert cli_from_answers([(10, 8, 6), (8, 6, 4)]) == pytest.approx(7.0)


def test_cli_from_one_respondent():
    assert cli_from_answers([(10, 5, 0)]) == pytest.approx(5.0)


def test_cli_without_respondents_is_undefined():
    assert cli_from_answers([]) is None


@pytest.mark.parametrize("answers", [[(10, 11, 3)], [(10, 8, 6), (8, 6)]])
def test_cli_from_answers_rejects_bad_rows(answers):
    with pytest.raises(ValueError):  # noqa: PT011 - off-scale answer or missing column
        cli_from_answers(answers)


# --- Purchase behaviour -------------------------------------------------------------------


def test_repurchase_rate():
    assert repurchase_rate(cohort_size=200, repurchasers=50) == pytest.approx(0.25)


def test_repurchase_rate_of_empty_cohort_is_undefined():
    assert repurchase_rate(0, 0) is None


def test_repurchase_rate_rejects_more_repurchasers_than_cohort():
    with pytest.raises(ValueError, match="cannot exceed"):
        repurchase_rate(10, 11)


def test_upsell_ratio():
    # 30 multi-product customers per 120 single-product customers -> 0.25
    assert upsell_ratio(multi_product_customers=30, single_product_customers=120) == 0.25
    assert upsell_ratio(0, 10) == 0.0


def test_upsell_ratio_without_single_product_customers_is_undefined():
    assert upsell_ratio(5, 0) is None


def test_upsell_ratio_rejects_negative_counts():
    with pytest.raises(ValueError, match="multi_product_customers must be >= 0"):
        upsell_ratio(-1, 5)


def test_customer_value_is_exact_decimal():
    assert customer_value(Decimal("25.50"), 4) == Decimal("102.00")
    # 0.1 enters as Decimal("0.1"), not 0.1000000000000000055511151231257827...
    assert customer_value(Decimal("10"), 0.1) == Decimal("1.0")


def test_historical_clv():
    # 102.00 per year * 2.5 years = 255.00
    assert historical_clv(Decimal("102.00"), 2.5) == Decimal("255.000")
    assert historical_clv(customer_value(Decimal("25.50"), 4), 3) == Decimal("306.00")


# --- Retention and churn ------------------------------------------------------------------


def test_retention_and_churn():
    # (210 at end - 50 new) / 200 at start = 160 / 200 = 0.8; churn = 0.2
    assert retention_rate(200, 210, 50) == pytest.approx(0.8)
    assert churn_rate(200, 210, 50) == pytest.approx(0.2)


def test_full_retention_means_zero_churn():
    assert retention_rate(100, 100, 0) == 1.0
    assert churn_rate(100, 100, 0) == 0.0


def test_retention_and_churn_undefined_without_customers_at_start():
    assert retention_rate(0, 10, 10) is None
    assert churn_rate(0, 10, 10) is None


def test_retention_rejects_more_new_customers_than_at_end():
    with pytest.raises(ValueError, match="new_customers cannot exceed"):
        retention_rate(100, 10, 20)


def test_retention_rejects_more_retained_than_at_start():
    # 150 at end - 10 new = 140 retained out of only 100
    with pytest.raises(ValueError, match="retained customers cannot exceed"):
        churn_rate(100, 150, 10)


# --- NPS as shown: small samples and the adjusted-Wald margin -----------------------------


def test_nps_report_matches_the_published_vector():
    # p = 1/2, d = 1/6, n = 324: 162 promoters, 108 passives, 54 detractors.
    # Adjusted Wald: n' = 327, p' = 162.75/327 = 0.497706, d' = 54.75/327 = 0.167431,
    # Var = 0.665138 - 0.330275^2 = 0.556057, SE = 100 * sqrt(0.556057/327) = 4.12368,
    # margin = 1.96 * 4.12368 = 8.0824 (the plain Wald margin of the vector is 8.1 too)
    report = nps_report(162, 108, 54)
    assert report.score == pytest.approx(33.3333, abs=1e-4)
    assert report.standard_error == pytest.approx(4.12368, abs=1e-5)
    assert report.margin_of_error == pytest.approx(8.0824, abs=1e-4)
    assert not report.too_few_answers


@pytest.mark.parametrize(
    ("promoters", "passives", "detractors"), [(1, 0, 0), (1, 0, 1), (29, 0, 0)]
)
def test_nps_report_below_thirty_answers_has_no_margin(promoters, passives, detractors):
    report = nps_report(promoters, passives, detractors)
    assert report.n == promoters + passives + detractors < MIN_ANSWERS == 30
    assert (report.standard_error, report.margin_of_error) == (None, None)
    assert report.too_few_answers


def test_nps_report_of_identical_answers_has_a_margin_above_zero():
    # 30 passives: NPS 0. n' = 33, p' = d' = 0.75/33 = 0.022727: Var = 0.045455,
    # SE = 100 * sqrt(0.045455/33) = 3.71135, margin = 7.2742 (plain Wald: 0)
    report = nps_report(0, 30, 0)
    assert report.score == 0
    assert report.margin_of_error == pytest.approx(7.2742, abs=1e-4)


def test_nps_report_margin_never_exceeds_100_points():
    # the widest case at n = 30: half promoters, half detractors. n' = 33,
    # p' = d' = 15.75/33 = 0.477273, Var = 0.954545, SE = 100 * sqrt(0.954545/33) = 17.0075,
    # margin = 1.96 * 17.0075 = 33.3348
    assert nps_report(15, 0, 15).margin_of_error == pytest.approx(33.3348, abs=1e-4)


def test_nps_report_without_answers_is_undefined():
    assert nps_report(0, 0, 0) is None
