"""Predictive customer lifetime value: BG/NBD purchase counts and Gamma-Gamma spend.

Pure numpy/scipy functions, no database access. Per customer the inputs are the usual
RFM summary, all in one time unit (the *period*, e.g. weeks or days):

* ``frequency`` x: number of *repeat* purchases (total purchases - 1),
* ``recency`` t_x: age of the customer at the last purchase (0 when x = 0),
* ``T``: age of the customer at the end of the observation window,
* ``monetary_value`` m_x: mean value of the x repeat purchases (Gamma-Gamma only).

References:

* [FHL05a] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). "Counting Your Customers"
  the Easy Way: An Alternative to the Pareto/NBD Model. Marketing Science 24(2), 275-284.
  http://brucehardie.com/papers/018/fader_et_al_mksc_05.pdf
* [FHL05b] Fader, P. S., Hardie, B. G. S. & Lee, K. L. (2005). RFM and CLV: Using Iso-Value
  Curves for Customer Base Analysis. Journal of Marketing Research 42(4), 415-430.
* [H-021] Fader, Hardie & Lee, "Computing P(alive) Using the BG/NBD Model",
  http://www.brucehardie.com/notes/021/
* [H-025] Fader & Hardie, "The Gamma-Gamma Model of Monetary Value",
  http://www.brucehardie.com/notes/025/

Both models are fitted by maximum likelihood over log-parameters (so every parameter stays
positive) with the Nelder-Mead simplex of :func:`scipy.optimize.minimize`; the
log-likelihoods use ``gammaln`` / ``betaln`` and log-sum-exp so that large frequencies do
not overflow.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

FloatArray = NDArray[np.float64]

_OPTIMIZER_OPTIONS = {"xatol": 1e-9, "fatol": 1e-9, "maxiter": 20_000, "maxfev": 20_000}


@dataclass(frozen=True)
class BgNbdParams:
    """BG/NBD parameters: purchase rate lambda ~ Gamma(r, alpha), dropout p ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float


@dataclass(frozen=True)
class GammaGammaParams:
    """Gamma-Gamma parameters: spend z ~ Gamma(p, nu) per transaction, nu ~ Gamma(q, v)."""

    p: float
    q: float
    v: float


# --- input checks -------------------------------------------------------------------------


def _require_whole_non_negative(frequency: FloatArray) -> None:
    if np.any(frequency < 0) or np.any(frequency != np.floor(frequency)):
        raise ValueError("frequency must be a whole number >= 0")


def _rfm(
    frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Broadcast and validate (x, t_x, T): x whole and >= 0, 0 <= t_x <= T, t_x = 0 if x = 0."""
    x, t_x, age = np.broadcast_arrays(
        *(np.asarray(v, dtype=float) for v in (frequency, recency, T))
    )
    _require_whole_non_negative(x)
    if np.any(t_x < 0) or np.any(t_x > age):
        raise ValueError("recency must satisfy 0 <= recency <= T")
    if np.any((x == 0) & (t_x != 0)):
        raise ValueError("recency must be 0 for customers with frequency 0")
    return x, t_x, age


def _spend(frequency: ArrayLike, monetary_value: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Broadcast and validate (x, m_x): x whole and >= 0, m_x > 0 wherever x > 0."""
    x, m_x = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (frequency, monetary_value)))
    _require_whole_non_negative(x)
    if np.any((x > 0) & ~(m_x > 0)):
        raise ValueError("monetary_value must be > 0 for customers with frequency > 0")
    return x, m_x


# --- maximum likelihood -------------------------------------------------------------------


def _fit_positive(log_likelihood: Callable[..., FloatArray], n_params: int) -> list[float]:
    """Maximise sum(log_likelihood(*theta)) over theta > 0, searching in log(theta)."""

    def negative_total(log_theta: FloatArray) -> float:
        total = float(np.sum(log_likelihood(*np.exp(log_theta))))
        return -total if np.isfinite(total) else np.inf

    result = optimize.minimize(
        negative_total, np.zeros(n_params), method="Nelder-Mead", options=_OPTIMIZER_OPTIONS
    )
    if not result.success:
        raise RuntimeError(f"maximum-likelihood fit did not converge: {result.message}")
    return [float(theta) for theta in np.exp(result.x)]


# --- BG/NBD -------------------------------------------------------------------------------


def _log_dropout_odds(
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """L = ln[a / (b + x - 1)] + (r + x) ln[(alpha + T) / (alpha + t_x)] for x > 0, -inf for x = 0.

    exp(L) is the posterior odds that a customer with history (x, t_x, T) has already
    dropped out; it is the ratio of the two terms of the BG/NBD likelihood [FHL05a, eq. 6].
    """
    x_pos = np.maximum(x, 1.0)  # keeps b + x - 1 > 0 in the branch discarded for x = 0
    odds = (
        np.log(a) - np.log(b + x_pos - 1) + (r + x_pos) * (np.log(alpha + T) - np.log(alpha + t_x))
    )
    return np.where(x > 0, odds, -np.inf)


def _bgnbd_log_likelihood(
    r: float, alpha: float, a: float, b: float, x: FloatArray, t_x: FloatArray, T: FloatArray
) -> FloatArray:
    """Per-customer BG/NBD log-likelihood [FHL05a, eq. 6]:

        L(r, alpha, a, b | x, t_x, T)
            = B(a, b + x) / B(a, b) * Gamma(r + x) alpha^r / (Gamma(r) (alpha + T)^(r + x))
              + [x > 0] B(a + 1, b + x - 1) / B(a, b)
                        * Gamma(r + x) alpha^r / (Gamma(r) (alpha + t_x)^(r + x))

    computed as ln(first term) + ln(1 + exp(L)) with L from :func:`_log_dropout_odds`.
    """
    log_first_term = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + special.betaln(a, b + x)
        - special.betaln(a, b)
        - (r + x) * np.log(alpha + T)
    )
    return log_first_term + np.logaddexp(0.0, _log_dropout_odds(r, alpha, a, b, x, t_x, T))


def fit_bgnbd(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> BgNbdParams:
    """Fit the BG/NBD model [FHL05a] by maximum likelihood.

    Each customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha) while alive
    and after every purchase drops out with probability p ~ Beta(a, b). The estimates
    maximise the sum over customers of the log of the likelihood in
    :func:`_bgnbd_log_likelihood`; ``log_likelihood`` is that maximised sum.
    """
    x, t_x, age = _rfm(frequency, recency, T)
    r, alpha, a, b = _fit_positive(
        lambda *theta: _bgnbd_log_likelihood(*theta, x, t_x, age), n_params=4
    )
    total = float(np.sum(_bgnbd_log_likelihood(r, alpha, a, b, x, t_x, age)))
    return BgNbdParams(r=r, alpha=alpha, a=a, b=b, log_likelihood=total)


def probability_alive(
    params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """Probability that a customer is still active at T [FHL05a; H-021]:

        P(alive | x, t_x, T)
            = 1 / (1 + [x > 0] a / (b + x - 1) ((alpha + T) / (alpha + t_x))^(r + x))

    A customer with no repeat purchase cannot have dropped out yet (P = 1).
    """
    x, t_x, age = _rfm(frequency, recency, T)
    odds = _log_dropout_odds(params.r, params.alpha, params.a, params.b, x, t_x, age)
    return special.expit(-odds)


def expected_purchases(
    params: BgNbdParams, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """Expected number of purchases in the next t periods given (x, t_x, T) [FHL05a, eq. 10]:

        E[Y(t) | x, t_x, T] = (a + b + x - 1) / (a - 1)
            * [1 - ((alpha + T) / (alpha + T + t))^(r + x)
                   * 2F1(r + x, b + x; a + b + x - 1; t / (alpha + T + t))]
            * P(alive | x, t_x, T)

    where 2F1 is the Gauss hypergeometric function and P(alive) is
    :func:`probability_alive`. The expression is well defined for a < 1 (both factors
    change sign) but not at a = 1 exactly.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, age = _rfm(frequency, recency, T)
    horizon = np.asarray(t, dtype=float)
    if np.any(horizon < 0):
        raise ValueError("t must be >= 0")
    future = alpha + age + horizon
    hypergeometric = special.hyp2f1(r + x, b + x, a + b + x - 1, horizon / future)
    unconditional = (
        (a + b + x - 1) / (a - 1) * (1 - ((alpha + age) / future) ** (r + x) * hypergeometric)
    )
    return unconditional * special.expit(-_log_dropout_odds(r, alpha, a, b, x, t_x, age))


# --- Gamma-Gamma --------------------------------------------------------------------------


def _gamma_gamma_log_likelihood(
    p: float, q: float, v: float, x: FloatArray, m_x: FloatArray
) -> FloatArray:
    """Per-customer Gamma-Gamma log-likelihood of the mean spend m_x of x transactions [H-025]:

        f(m_x | p, q, v; x) = Gamma(p x + q) / (Gamma(p x) Gamma(q))
                              * v^q m_x^(p x - 1) x^(p x) / (v + m_x x)^(p x + q)

    Requires x > 0 and m_x > 0.
    """
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m_x)
        + px * np.log(x)
        - (px + q) * np.log(v + m_x * x)
    )


def fit_gamma_gamma(frequency: ArrayLike, monetary_value: ArrayLike) -> GammaGammaParams:
    """Fit the Gamma-Gamma spend model [FHL05b; H-025] by maximum likelihood.

    Transaction values of a customer are Gamma(p, nu) with mean p / nu, and nu varies across
    customers as Gamma(q, v). Only customers with frequency > 0 carry information about
    spend (m_x is the mean of their x repeat transactions); the others are ignored.
    """
    x, m_x = _spend(frequency, monetary_value)
    repeaters = x > 0
    if not np.any(repeaters):
        raise ValueError("Gamma-Gamma needs at least one customer with frequency > 0")
    x, m_x = x[repeaters], m_x[repeaters]
    p, q, v = _fit_positive(lambda *theta: _gamma_gamma_log_likelihood(*theta, x, m_x), 3)
    return GammaGammaParams(p=p, q=q, v=v)


def expected_average_spend(
    params: GammaGammaParams, frequency: ArrayLike, monetary_value: ArrayLike
) -> FloatArray:
    """Expected value of a future transaction given x repeat purchases of mean m_x [H-025]:

        E[Z | p, q, v, m_x, x] = p (v + x m_x) / (p x + q - 1)
                               = (q - 1) / (p x + q - 1) * p v / (q - 1)
                                 + p x / (p x + q - 1) * m_x

    a weighted mean of the population mean p v / (q - 1) and the customer's own mean m_x.
    Customers with x = 0 get the population mean. Defined only for q > 1.
    """
    if params.q <= 1:
        raise ValueError("expected spend is undefined for q <= 1")
    x, m_x = _spend(frequency, monetary_value)
    m_x = np.where(x > 0, m_x, 0.0)
    p_x = params.p * x
    return params.p * (params.v + x * m_x) / (p_x + params.q - 1)


# --- CLV ----------------------------------------------------------------------------------


def predictive_clv(
    bgnbd: BgNbdParams,
    gamma_gamma: GammaGammaParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary_value: ArrayLike,
    *,
    months: int,
    monthly_discount_rate: float,
    periods_per_month: float = 1.0,
) -> FloatArray:
    """Discounted expected revenue of each customer over the next ``months`` months [FHL05b].

        CLV = E[Z] * sum_{k=1..H} (E[Y(k s)] - E[Y((k - 1) s)]) / (1 + d)^k

    with E[Z] from :func:`expected_average_spend`, E[Y(t)] from :func:`expected_purchases`,
    H = ``months``, d = ``monthly_discount_rate`` and s = ``periods_per_month`` (the length of
    a month in the unit the BG/NBD model was fitted in, e.g. 365.25 / 12 / 7 for weeks).
    Purchases in month k are discounted as if made at its end. Multiply by a margin to get
    profit rather than revenue.
    """
    if months < 0 or monthly_discount_rate <= -1 or periods_per_month <= 0:
        raise ValueError("need months >= 0, monthly_discount_rate > -1, periods_per_month > 0")
    spend = expected_average_spend(gamma_gamma, frequency, monetary_value)
    x, t_x, age = _rfm(frequency, recency, T)
    elapsed = np.arange(months + 1, dtype=float).reshape(-1, *[1] * x.ndim) * periods_per_month
    cumulative = expected_purchases(bgnbd, elapsed, x, t_x, age)
    discount = (1 + monthly_discount_rate) ** -np.arange(1, months + 1, dtype=float)
    per_month = np.diff(cumulative, axis=0)
    return spend * np.tensordot(discount, per_month, axes=1)
