"""Survey and loyalty metric formulas: pure functions, no database access.

Each metric is defined exactly once, with its formula in the docstring: here, or for
the points programme (redemption, liability, breakage) in :mod:`surveys.metrics.points`.

Conventions:

* A metric whose denominator is 0 is *undefined* and returns ``None``, never ``0`` and
  never ``ZeroDivisionError``: "no data" must not be reported as a real score.
* Shares and rates are ``float`` fractions in [0, 1]; the NPS score and its error bars are
  in percentage points (-100..100), as NPS is conventionally quoted.
* Money is ``Decimal``. Non-money factors multiplied with money (counts, years) may be
  ``int``, ``float`` or ``Decimal``; floats enter through ``str`` so that ``2.1`` means
  ``Decimal("2.1")`` and not its binary approximation.
* Negative counts or answers outside a scale are programming errors: ``ValueError``.
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

Z_95 = 1.96
"""Two-sided 95 % standard-normal quantile used for margins of error."""

MIN_ANSWERS = 30
"""Below this many answers (one per member and span) a figure shows "too few answers", no
margin: the normal approximation needs about 30; below, the margin swings from 0 (one or
identical answers) to over 100 points (two answers). docs/metrics.md, "Small samples"."""

NPS_SCALE = range(11)
CSAT_SCALE = range(1, 6)
CES_SCALE = range(1, 8)
CLI_SCALE = range(11)

NpsBucket = Literal["promoter", "passive", "detractor"]
Number = int | float | Decimal


def _require_non_negative(counts: Mapping[str, int]) -> None:
    for name, value in counts.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def _require_on_scale(answers: Iterable[int], scale: range) -> None:
    for answer in answers:
        if answer not in scale:
            raise ValueError(f"answer {answer!r} is outside {scale.start}..{scale.stop - 1}")


def _to_decimal(value: Number) -> Decimal:
    return Decimal(str(value)) if isinstance(value, float) else Decimal(value)


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else numerator / denominator


def _validated_counts(counts_by_answer: Mapping[int, int], scale: range) -> int:
    """Check answers and counts; return the number of responses n."""
    _require_on_scale(counts_by_answer.keys(), scale)
    _require_non_negative({f"count of answer {a}": c for a, c in counts_by_answer.items()})
    return sum(counts_by_answer.values())


def _count_between(counts_by_answer: Mapping[int, int], low: int, high: int) -> int:
    return sum(c for answer, c in counts_by_answer.items() if low <= answer <= high)


# --- Net Promoter Score -------------------------------------------------------------------


@dataclass(frozen=True)
class NpsResult:
    """NPS with its sampling error; score, SE and margin in percentage points."""

    score: float
    n: int
    promoter_share: float
    detractor_share: float
    standard_error: float
    margin_of_error: float


def nps_bucket(score: int) -> NpsBucket:
    """Classify a 0-10 "how likely are you to recommend us" answer.

    9-10 -> promoter, 7-8 -> passive, 0-6 -> detractor. Anything else is a ``ValueError``.
    """
    _require_on_scale([score], NPS_SCALE)
    if score >= 9:
        return "promoter"
    if score >= 7:
        return "passive"
    return "detractor"


def nps(promoters: int, passives: int, detractors: int) -> NpsResult | None:
    """Net Promoter Score with its standard error and 95 % margin of error.

    With n = promoters + passives + detractors, p = promoters / n, d = detractors / n:

        NPS    = 100 * (p - d)
        Var    = p + d - (p - d)^2     (each answer scored +1 / 0 / -1)
        SE     = 100 * sqrt(Var / n)
        margin = 1.96 * SE

    Undefined (``None``) when there are no responses.
    """
    _require_non_negative({"promoters": promoters, "passives": passives, "detractors": detractors})
    n = promoters + passives + detractors
    if n == 0:
        return None
    p, d = promoters / n, detractors / n
    variance = max(p + d - (p - d) ** 2, 0.0)  # clamp rounding noise below 0
    standard_error = 100 * math.sqrt(variance / n)
    return NpsResult(
        score=100 * (p - d),
        n=n,
        promoter_share=p,
        detractor_share=d,
        standard_error=standard_error,
        margin_of_error=Z_95 * standard_error,
    )


@dataclass(frozen=True)
class NpsReport:
    """NPS as shown (dashboard, CSV, partner API): see :func:`nps_report`."""

    score: float
    n: int
    standard_error: float | None
    margin_of_error: float | None

    @property
    def too_few_answers(self) -> bool:
        return self.margin_of_error is None


def nps_report(promoters: int, passives: int, detractors: int) -> NpsReport | None:
    """The NPS with the margin of error people are shown.

    Score as :func:`nps`. The margin is the adjusted Wald interval (Rocks, "Interval
    Estimation for the Net Promoter Score", The American Statistician 70(4), 2016, the
    best of the methods compared there): add 3 answers, 3/4 of them promoters and 3/4
    detractors, then

        p' = (promoters + 3/4) / (n + 3),   d' = (detractors + 3/4) / (n + 3)
        SE = 100 * sqrt((p' + d' - (p' - d')^2) / (n + 3)),   margin = 1.96 * SE

    never 0, not even when all answers are alike. Below ``MIN_ANSWERS`` answers: no
    standard error and no margin ("too few answers"). ``None`` without answers.
    """
    result = nps(promoters, passives, detractors)
    if result is None:
        return None
    if result.n < MIN_ANSWERS:
        return NpsReport(score=result.score, n=result.n, standard_error=None, margin_of_error=None)
    n = result.n + 3
    p, d = (promoters + 0.75) / n, (detractors + 0.75) / n
    standard_error = 100 * math.sqrt((p + d - (p - d) ** 2) / n)
    return NpsReport(
        score=result.score,
        n=result.n,
        standard_error=standard_error,
        margin_of_error=Z_95 * standard_error,
    )


# --- Satisfaction and effort --------------------------------------------------------------


def csat(counts_by_answer: Mapping[int, int]) -> float | None:
    """Customer Satisfaction: share of satisfied answers on a 1-5 scale.

        CSAT = (count(4) + count(5)) / n

    ``counts_by_answer`` maps an answer (1..5) to how many respondents gave it; missing
    answers count 0. Undefined (``None``) when n = 0.
    """
    n = _validated_counts(counts_by_answer, CSAT_SCALE)
    return _ratio(_count_between(counts_by_answer, 4, 5), n)


@dataclass(frozen=True)
class CesResult:
    """Customer Effort Score on the 1-7 scale."""

    mean: float
    agree_share: float
    n: int


def ces(counts_by_answer: Mapping[int, int]) -> CesResult | None:
    """Customer Effort Score on a 1-7 "the company made it easy" scale.

        mean        = sum(answer * count(answer)) / n
        agree_share = (count(5) + count(6) + count(7)) / n

    Undefined (``None``) when n = 0.
    """
    n = _validated_counts(counts_by_answer, CES_SCALE)
    total = sum(answer * c for answer, c in counts_by_answer.items())
    return ces_from_totals(total, _count_between(counts_by_answer, 5, 7), n)


def ces_from_totals(total: int, agree: int, n: int) -> CesResult | None:
    """CES from stored counts: ``total`` = sum of the n answers, ``agree`` = answers 5-7.

        mean = total / n;  agree_share = agree / n

    Undefined (``None``) when n = 0.
    """
    _require_non_negative({"total": total, "agree": agree, "n": n})
    if agree > n or not (n <= total <= 7 * n):
        raise ValueError(f"inconsistent CES totals: total={total}, agree={agree}, n={n}")
    if n == 0:
        return None
    return CesResult(mean=total / n, agree_share=agree / n, n=n)


# --- Customer Loyalty Index ---------------------------------------------------------------


def cli(recommend_mean: float, buy_again_mean: float, try_other_mean: float) -> float:
    """Customer Loyalty Index from the mean answers to its three 0-10 questions.

        CLI = (mean(recommend) + mean(buy again) + mean(try other products)) / 3

    Each mean must lie on the 0-10 answer scale.
    """
    means = (recommend_mean, buy_again_mean, try_other_mean)
    if not all(0 <= m <= 10 for m in means):
        raise ValueError(f"CLI question means must lie in 0..10, got {means}")
    return sum(means) / 3


def cli_from_totals(total: int, n: int) -> float | None:
    """CLI from stored sums: ``total`` = sum over n respondents of their three answers.

        CLI = total / (3 * n)   (= the mean of the three question means)

    Undefined (``None``) with no respondents.
    """
    _require_non_negative({"total": total, "n": n})
    if total > 30 * n:
        raise ValueError(f"CLI total {total} is more than 30 x {n} respondents")
    return None if n == 0 else total / (3 * n)


def cli_from_answers(answers: Iterable[tuple[int, int, int]]) -> float | None:
    """CLI from per-respondent (recommend, buy again, try other) 0-10 answers.

    Takes the mean of each question over respondents and applies :func:`cli`.
    Undefined (``None``) with no respondents.
    """
    rows = list(answers)
    _require_on_scale((a for row in rows for a in row), CLI_SCALE)
    if not rows:
        return None
    recommend, buy_again, try_other = (
        sum(column) / len(rows) for column in zip(*rows, strict=True)
    )
    return cli(recommend, buy_again, try_other)


# --- Purchase behaviour -------------------------------------------------------------------


def repurchase_rate(cohort_size: int, repurchasers: int) -> float | None:
    """Share of a cohort that bought again: repurchasers / cohort_size.

    Undefined (``None``) for an empty cohort.
    """
    _require_non_negative({"cohort_size": cohort_size, "repurchasers": repurchasers})
    if repurchasers > cohort_size:
        raise ValueError("repurchasers cannot exceed cohort_size")
    return _ratio(repurchasers, cohort_size)


def upsell_ratio(multi_product_customers: int, single_product_customers: int) -> float | None:
    """Upselling ratio: customers who bought more than one product per customer who bought one.

        ratio = multi_product_customers / single_product_customers

    Undefined (``None``) when no customer bought exactly one product.
    """
    _require_non_negative(
        {
            "multi_product_customers": multi_product_customers,
            "single_product_customers": single_product_customers,
        }
    )
    return _ratio(multi_product_customers, single_product_customers)


def customer_value(avg_purchase_value: Decimal, avg_purchase_count: Number) -> Decimal:
    """Customer value per period: average purchase value * average purchase count per period.

        customer value = avg purchase value * avg number of purchases per customer per period

    Both averages must refer to the same period (usually a year).
    """
    return avg_purchase_value * _to_decimal(avg_purchase_count)


def historical_clv(customer_value: Decimal, avg_lifetime_years: Number) -> Decimal:
    """Historical (descriptive) customer lifetime value.

        CLV = customer value per year * average customer lifetime in years

    ``customer_value`` must be per year to match the lifetime unit. For a forward-looking
    estimate see :func:`surveys.metrics.clv.predictive_clv`.
    """
    return customer_value * _to_decimal(avg_lifetime_years)


# --- Retention ----------------------------------------------------------------------------


def retention_rate(
    customers_at_start: int, customers_at_end: int, new_customers: int
) -> float | None:
    """Customer retention rate over a period.

        retention = (customers at end - new customers acquired in the period) / customers at start

    Undefined (``None``) when the period started with no customers.
    """
    _require_non_negative(
        {
            "customers_at_start": customers_at_start,
            "customers_at_end": customers_at_end,
            "new_customers": new_customers,
        }
    )
    retained = customers_at_end - new_customers
    if retained < 0:
        raise ValueError("new_customers cannot exceed customers_at_end")
    if retained > customers_at_start:
        raise ValueError("retained customers cannot exceed customers_at_start")
    return _ratio(retained, customers_at_start)


def churn_rate(customers_at_start: int, customers_at_end: int, new_customers: int) -> float | None:
    """Customer churn rate over a period: churn = 1 - retention (see :func:`retention_rate`).

    Undefined (``None``) when the period started with no customers.
    """
    retention = retention_rate(customers_at_start, customers_at_end, new_customers)
    return None if retention is None else 1 - retention


# --- Member activity ------------------------------------------------------------------------

ACTIVE_WITHIN_DAYS = 90
"""A member with activity (purchase, action, redemption) in the last 90 days is active."""
DORMANT_AFTER_DAYS = 180
"""No activity for more than 180 days (or never): dormant. In between: at risk."""

ActivityBand = Literal["active", "at_risk", "dormant"]


def activity_band(days_since_activity: int | None) -> ActivityBand:
    """Classify a member by days since their last activity (``None``: never active).

    active   if days <= 90
    at_risk  if 90 < days <= 180
    dormant  if days > 180 or never
    """
    if days_since_activity is None:
        return "dormant"
    if days_since_activity < 0:
        raise ValueError("days_since_activity must be >= 0")
    if days_since_activity <= ACTIVE_WITHIN_DAYS:
        return "active"
    if days_since_activity <= DORMANT_AFTER_DAYS:
        return "at_risk"
    return "dormant"


# --- Referrals (points health: surveys.metrics.points) ------------------------------------


def referral_conversion(referrals: int, converted: int) -> float | None:
    """Share of registered referrals whose friend made the qualifying purchase.

        conversion = converted referrals / referrals

    Undefined (``None``) without referrals.
    """
    _require_non_negative({"referrals": referrals, "converted": converted})
    if converted > referrals:
        raise ValueError("converted cannot exceed referrals")
    return _ratio(converted, referrals)
