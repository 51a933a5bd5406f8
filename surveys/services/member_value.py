"""Customer value per member: the nightly BG/NBD and Gamma-Gamma fit of each program.

Per program, every membership with at least one counted purchase is a customer of the
fit. A *counted* purchase is awarded (status ``awarded``: not received-only, rejected or
failed) and is worth its amount net of refunds; a purchase refunded in full is worth 0
and does not count. The purchases of one local day (``TIME_ZONE``) are one transaction
(their net amounts summed), as in the models' papers. The time unit is the day:

* frequency x = purchase days - 1 (the repeat purchases),
* recency t_x = last purchase day - first purchase day (0 when x = 0),
* age T = the day of the fit - first purchase day,
* monetary value m_x = mean net spend of the x repeat purchase days (the first day left
  out, as Gamma-Gamma models the repeat transactions; 0 when x = 0),

all in the program's currency (a purchase is recorded in its program's currency only).
BG/NBD (``surveys.metrics.clv.fit_bgnbd``) is fitted on (x, t_x, T) of all customers,
Gamma-Gamma on (x, m_x) of the repeat customers. Each member then gets

* ``probability_alive`` = P(alive | x, t_x, T),
* ``expected_purchases`` = E[Y(t) | x, t_x, T] with t = ``HORIZON_MONTHS`` months,
* ``predicted_clv`` = ``predictive_clv`` over ``HORIZON_MONTHS`` months discounted at
  ``MONTHLY_DISCOUNT_RATE`` (a month = 365.25 / 12 days), rounded to the currency
  (the constants are in ``surveys.metrics.member_value``),

written with the fit's time through ``programs.services.figures``; members without a
counted purchase get no figures (NULL). The parameters, sample sizes and the
log-likelihood are kept per program in ``MemberValueFit``, flagged ``too_small`` below
``MIN_CUSTOMERS`` customers or ``MIN_REPEAT_CUSTOMERS`` repeat customers. A fit that
fails (no customers, no repeat customer, no convergence, q <= 1, figures out of range)
parks its reason there and leaves the figures of the last good fit as they were; one
program's failure never stops the others. Formulas and reasons: docs/metrics.md,
"Predictive figures".
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from programs.models import Program, Purchase, PurchaseStatus
from programs.services.figures import MemberValue, figures_value_write
from surveys.metrics.clv import (
    BgNbdParams,
    GammaGammaParams,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    predictive_clv,
    probability_alive,
)
from surveys.metrics.member_value import (
    DAYS_PER_MONTH,
    HORIZON_MONTHS,
    MIN_CUSTOMERS,
    MIN_REPEAT_CUSTOMERS,
    MONTHLY_DISCOUNT_RATE,
)
from surveys.models import MemberValueFit

logger = logging.getLogger("surveys")

# The figures' columns: 4 and 2 decimal places, at most 10**7 purchases, 10**12 money.
_LARGEST_PURCHASES = 10**7
_LARGEST_VALUE = 10**12


@dataclass(frozen=True)
class FitInputs:
    """One row per customer of the fit, in membership id order."""

    membership_ids: list[int] = field(default_factory=list)
    frequency: np.ndarray = field(default_factory=lambda: np.zeros(0))
    recency: np.ndarray = field(default_factory=lambda: np.zeros(0))
    age: np.ndarray = field(default_factory=lambda: np.zeros(0))
    monetary: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def customers(self) -> int:
        return len(self.membership_ids)

    @property
    def repeat_customers(self) -> int:
        return int(np.count_nonzero(self.frequency))


def member_value_inputs(*, program: Program, until: datetime) -> FitInputs:
    """The fit's inputs from the program's counted purchases up to ``until`` (one query)."""
    purchases = Purchase._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH days AS (
                SELECT membership_id, CAST(occurred_at AT TIME ZONE %(tz)s AS DATE) AS day,
                       SUM(amount - refunded_amount) AS spend
                FROM {purchases}
                WHERE program_id = %(program)s AND status = %(awarded)s
                      AND amount > refunded_amount AND occurred_at <= %(until)s
                GROUP BY 1, 2),
            ranked AS (
                SELECT membership_id, day, spend,
                       MIN(day) OVER (PARTITION BY membership_id) AS first_day
                FROM days)
            SELECT membership_id, COUNT(*) - 1, MAX(day) - MIN(day), %(today)s - MIN(day),
                   COALESCE(SUM(spend) FILTER (WHERE day > first_day) / NULLIF(COUNT(*) - 1, 0),
                            0)
            FROM ranked GROUP BY membership_id ORDER BY membership_id""",  # noqa: S608 - our table name only
            {
                "tz": settings.TIME_ZONE,
                "program": program.pk,
                "awarded": PurchaseStatus.AWARDED.value,
                "until": until,
                "today": timezone.localdate(until, timezone.get_default_timezone()),
            },
        )
        rows = cursor.fetchall()
    if not rows:
        return FitInputs()
    ids, x, t_x, age, m_x = zip(*rows, strict=True)
    return FitInputs(
        membership_ids=list(ids),
        frequency=np.array(x, dtype=float),
        recency=np.array(t_x, dtype=float),
        age=np.array(age, dtype=float),
        monetary=np.array([float(m) for m in m_x]),
    )


@dataclass(frozen=True)
class Fit:
    bgnbd: BgNbdParams
    gamma_gamma: GammaGammaParams


class FitFailed(Exception):
    """No usable fit for this program; the message says why."""


def _fit(inputs: FitInputs) -> Fit:
    if inputs.customers == 0:
        raise FitFailed("no customer with a counted purchase yet")
    if inputs.repeat_customers == 0:
        raise FitFailed(f"{inputs.customers} customers, none with a repeat purchase")
    try:
        with np.errstate(all="ignore"):
            bgnbd = fit_bgnbd(inputs.frequency, inputs.recency, inputs.age)
            gamma_gamma = fit_gamma_gamma(inputs.frequency, inputs.monetary)
    except (ValueError, RuntimeError, ArithmeticError) as exc:
        raise FitFailed(str(exc)) from exc
    if gamma_gamma.q <= 1:
        raise FitFailed(f"Gamma-Gamma q = {gamma_gamma.q:.4f} <= 1: expected spend undefined")
    return Fit(bgnbd=bgnbd, gamma_gamma=gamma_gamma)


def _decimal(value: float, places: int) -> Decimal:
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)


def member_values(fit: Fit, inputs: FitInputs, *, currency: str) -> list[MemberValue]:
    """Each customer's figures from the fitted parameters, rounded to the columns."""
    x, t_x, age, m_x = inputs.frequency, inputs.recency, inputs.age, inputs.monetary
    with np.errstate(all="ignore"):
        alive = probability_alive(fit.bgnbd, x, t_x, age)
        purchases = expected_purchases(fit.bgnbd, HORIZON_MONTHS * DAYS_PER_MONTH, x, t_x, age)
        value = predictive_clv(
            fit.bgnbd,
            fit.gamma_gamma,
            x,
            t_x,
            age,
            m_x,
            months=HORIZON_MONTHS,
            monthly_discount_rate=MONTHLY_DISCOUNT_RATE,
            periods_per_month=DAYS_PER_MONTH,
        )
    in_range = (
        np.all(np.isfinite(alive) & (alive >= 0) & (alive <= 1))
        and np.all(np.isfinite(purchases) & (purchases >= 0) & (purchases < _LARGEST_PURCHASES))
        and np.all(np.isfinite(value) & (value >= 0) & (value < _LARGEST_VALUE))
    )
    if not in_range:
        raise FitFailed(
            f"the fitted parameters (a = {fit.bgnbd.a:.4f}) give figures that are not finite "
            "or out of range"
        )
    places = settings.CURRENCY_DECIMALS.get(currency, 2)
    return [
        MemberValue(
            membership_id=membership_id,
            probability_alive=_decimal(alive[i], 4),
            expected_purchases=_decimal(purchases[i], 2),
            predicted_clv=_decimal(value[i], places),
        )
        for i, membership_id in enumerate(inputs.membership_ids)
    ]


def member_value_fit(*, program: Program, now: datetime | None = None) -> MemberValueFit:
    """Fit one program and write its members' figures, or park why it could not."""
    now = now or timezone.now()
    inputs = member_value_inputs(program=program, until=now)
    try:
        fit = _fit(inputs)
        values = member_values(fit, inputs, currency=program.currency)
    except FitFailed as exc:
        return _failure_record(program, now, str(exc))
    too_small = inputs.customers < MIN_CUSTOMERS or inputs.repeat_customers < MIN_REPEAT_CUSTOMERS
    bgnbd, gamma_gamma = fit.bgnbd, fit.gamma_gamma
    with transaction.atomic():
        figures_value_write(
            program_id=program.pk, values=values, horizon_months=HORIZON_MONTHS, computed_at=now
        )
        row, _ = MemberValueFit.objects.update_or_create(
            program=program,
            defaults={
                "attempted_at": now,
                "failure_reason": "",
                "fitted_at": now,
                "customers": inputs.customers,
                "repeat_customers": inputs.repeat_customers,
                "too_small": too_small,
                "horizon_months": HORIZON_MONTHS,
                "r": bgnbd.r,
                "alpha": bgnbd.alpha,
                "a": bgnbd.a,
                "b": bgnbd.b,
                "log_likelihood": bgnbd.log_likelihood,
                "p": gamma_gamma.p,
                "q": gamma_gamma.q,
                "v": gamma_gamma.v,
            },
        )
    return row


def _failure_record(program: Program, now: datetime, reason: str) -> MemberValueFit:
    """Keep the last good fit and its figures; note the attempt and its reason."""
    logger.warning("customer value fit of program %s failed: %s", program.pk, reason)
    row, _ = MemberValueFit.objects.update_or_create(
        program=program, defaults={"attempted_at": now, "failure_reason": reason[:2000]}
    )
    return row


def member_value_fit_all(*, now: datetime | None = None) -> int:
    """Fit every program, each on its own: one that fails (whatever the error) is parked
    with its reason and the others are fitted. Returns the number of programs fitted."""
    now = now or timezone.now()
    fitted = 0
    for program in Program.objects.order_by("pk"):
        try:
            row = member_value_fit(program=program, now=now)
        except Exception as exc:
            logger.exception("customer value fit of program %s crashed", program.pk)
            _failure_record(program, now, f"{type(exc).__name__}: {exc}")
        else:
            fitted += row.failure_reason == ""
    return fitted
