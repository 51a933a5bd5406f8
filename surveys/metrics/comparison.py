"""Comparing two groups of members, a campaign's reached members and its holdout: the
difference of two means or of two shares with its 95 % confidence interval, and the
relative lift. Pure functions, no database access; conventions as in
:mod:`surveys.metrics.formulas` (docs/metrics.md, "Campaign results").

Estimates are exact (``Fraction``: a mean of counts or money, a share); the interval's
bounds are ``float``. Below ``MIN_GROUP_MEMBERS`` members in either group there is no
interval ("too few members"): the normal approximations behind both intervals need
about 30, as the survey margins do (``MIN_ANSWERS``)."""

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from scipy import stats

CONFIDENCE = 0.95
MIN_GROUP_MEMBERS = 30
"""Fewer members than this in either group: no interval, "too few members"."""

Note = Literal["", "empty", "too_few", "no_variation"]
Verdict = Literal["higher", "lower", "unclear"]


@dataclass(frozen=True)
class Sample:
    """One group's values of a figure, one value per member (0 for a member who did
    nothing), summed: ``total`` = sum of the values, ``squares`` = sum of their squares."""

    n: int
    total: int | Decimal
    squares: int | Decimal

    def __post_init__(self):
        if self.n < 0 or self.total < 0 or self.squares < 0:
            raise ValueError(f"counts and sums must be >= 0, got {self}")

    @property
    def mean(self) -> Fraction | None:
        return None if self.n == 0 else Fraction(self.total) / self.n

    @property
    def variance(self) -> Fraction | None:
        """Sample variance (n - 1 in the denominator), exact:
        (squares - total^2 / n) / (n - 1). ``None`` below two values."""
        if self.n < 2:
            return None
        total = Fraction(self.total)
        return max(Fraction(self.squares) - total * total / self.n, Fraction(0)) / (self.n - 1)


@dataclass(frozen=True)
class Difference:
    """reached - holdout, its 95 % interval (``low``, ``high``; ``None`` with a ``note``)
    and the relative lift, (reached - holdout) / holdout."""

    estimate: Fraction | None
    low: float | None = None
    high: float | None = None
    lift: Fraction | None = None
    note: Note = ""

    @property
    def verdict(self) -> Verdict | None:
        """``higher`` / ``lower`` when the interval lies above / below 0, else ``unclear``;
        ``None`` without an interval."""
        if self.low is None or self.high is None:
            return None
        if self.low > 0:
            return "higher"
        if self.high < 0:
            return "lower"
        return "unclear"


def relative_lift(reached: Fraction, holdout: Fraction) -> Fraction | None:
    """(reached - holdout) / holdout; undefined (``None``) when the holdout's value is 0."""
    return None if holdout == 0 else (reached - holdout) / holdout


def _z() -> float:
    return float(stats.norm.ppf(0.5 + CONFIDENCE / 2))


def _too_few(*sizes: int) -> bool:
    return min(sizes) < MIN_GROUP_MEMBERS


def welch_difference(reached: Sample, holdout: Sample) -> Difference:
    """Difference of two means with Welch's interval (unequal variances):

        d  = mean_r - mean_h
        SE = sqrt(s_r^2 / n_r + s_h^2 / n_h)
        df = SE^4 / ((s_r^2 / n_r)^2 / (n_r - 1) + (s_h^2 / n_h)^2 / (n_h - 1))
        interval = d -+ t(0.975, df) * SE

    No interval below ``MIN_GROUP_MEMBERS`` in a group (``too_few``), or when neither
    group varies, every member of each having the same value (SE = 0, ``no_variation``:
    the interval would be the single point d, a certainty the data do not give).
    """
    if reached.n == 0 or holdout.n == 0:
        return Difference(estimate=None, note="empty")
    estimate = reached.mean - holdout.mean
    lift = relative_lift(reached.mean, holdout.mean)
    if _too_few(reached.n, holdout.n):
        return Difference(estimate=estimate, lift=lift, note="too_few")
    interval = welch_interval(reached, holdout)
    if interval is None:
        return Difference(estimate=estimate, lift=lift, note="no_variation")
    return Difference(estimate=estimate, low=interval[0], high=interval[1], lift=lift)


def welch_interval(reached: Sample, holdout: Sample) -> tuple[float, float] | None:
    """Welch's 95 % interval of mean_r - mean_h (both n >= 2; see :func:`welch_difference`);
    ``None`` when SE = 0."""
    part_r = reached.variance / reached.n
    part_h = holdout.variance / holdout.n
    se_squared = part_r + part_h
    if se_squared == 0:
        return None
    df = se_squared**2 / (part_r**2 / (reached.n - 1) + part_h**2 / (holdout.n - 1))
    margin = float(stats.t.ppf(0.5 + CONFIDENCE / 2, float(df))) * math.sqrt(se_squared)
    estimate = float(reached.mean - holdout.mean)
    return estimate - margin, estimate + margin


def wilson_interval(count: int, n: int) -> tuple[float, float]:
    """Wilson score interval for a share count / n (n > 0):

    centre = (p + z^2 / 2n) / (1 + z^2 / n)
    half   = z * sqrt(p (1 - p) / n + z^2 / 4n^2) / (1 + z^2 / n)
    """
    if n <= 0 or not 0 <= count <= n:
        raise ValueError(f"need 0 <= count <= n and n > 0, got {count} / {n}")
    z = _z()
    p = count / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_difference(
    reached_count: int, reached_n: int, holdout_count: int, holdout_n: int
) -> Difference:
    """Difference of two shares with Newcombe's hybrid score interval (Newcombe, R. G.
    (1998). "Interval estimation for the difference between independent proportions:
    comparison of eleven methods". Statistics in Medicine 17, 873-890; method 10):
    with (l_r, u_r) and (l_h, u_h) the groups' Wilson intervals,

        d    = p_r - p_h
        low  = d - sqrt((p_r - l_r)^2 + (u_h - p_h)^2)
        high = d + sqrt((u_r - p_r)^2 + (p_h - l_h)^2)

    Unlike the plain Wald interval it stays inside [-1, 1] and is not 0 wide when a
    group has no or only successes. No interval below ``MIN_GROUP_MEMBERS`` (``too_few``).
    """
    if reached_n == 0 or holdout_n == 0:
        return Difference(estimate=None, note="empty")
    p_r, p_h = Fraction(reached_count, reached_n), Fraction(holdout_count, holdout_n)
    estimate = p_r - p_h
    lift = relative_lift(p_r, p_h)
    if _too_few(reached_n, holdout_n):
        return Difference(estimate=estimate, lift=lift, note="too_few")
    low, high = newcombe_interval(reached_count, reached_n, holdout_count, holdout_n)
    return Difference(estimate=estimate, low=low, high=high, lift=lift)


def newcombe_interval(
    reached_count: int, reached_n: int, holdout_count: int, holdout_n: int
) -> tuple[float, float]:
    """Newcombe's hybrid score 95 % interval of p_r - p_h (see :func:`newcombe_difference`)."""
    l_r, u_r = wilson_interval(reached_count, reached_n)
    l_h, u_h = wilson_interval(holdout_count, holdout_n)
    p_r, p_h = reached_count / reached_n, holdout_count / holdout_n
    d = p_r - p_h
    return (
        d - math.sqrt((p_r - l_r) ** 2 + (u_h - p_h) ** 2),
        d + math.sqrt((u_r - p_r) ** 2 + (p_h - l_h) ** 2),
    )
