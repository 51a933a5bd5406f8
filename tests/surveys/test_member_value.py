"""The nightly customer-value fit: its inputs from the purchases (checked against a small
scenario computed by hand), the written per-member figures (the pure BG/NBD and
Gamma-Gamma functions at the fitted parameters), and failures parked per program."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
import pytest

from loyalty_site.celery import app
from programs.models import MembershipFigures
from programs.services.ledger import Actor
from programs.services.memberships import membership_enroll
from programs.services.purchase_refunds import purchase_refund
from programs.services.purchases import purchase_record
from surveys.metrics.clv import (
    BgNbdParams,
    GammaGammaParams,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    predictive_clv,
    probability_alive,
)
from surveys.models import MemberValueFit
from surveys.services.member_value import (
    member_value_fit,
    member_value_fit_all,
    member_value_inputs,
)
from surveys.tasks import fit_member_value_task
from tests.factories import CustomerFactory, PartnerFactory, ProgramFactory

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # 12:00 in Berlin, local day 2026-06-01
TODAY = date(2026, 6, 1)


def at(year, month, day, hour=12, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def inputs_by_member(program, until=NOW):
    inputs = member_value_inputs(program=program, until=until)
    return {
        membership_id: (
            inputs.frequency[i],
            inputs.recency[i],
            inputs.age[i],
            round(inputs.monetary[i], 2),
        )
        for i, membership_id in enumerate(inputs.membership_ids)
    }


def test_inputs_count_awarded_purchase_days_net_of_refunds(program, partner, member, buy):
    regular, newcomer, never = member(), member(), member()
    buy(regular, "50.00", occurred_at=at(2026, 1, 1, 9))
    buy(regular, "10.00", occurred_at=at(2026, 1, 1, 15))  # the same day: one transaction
    buy(regular, "30.00", occurred_at=at(2026, 1, 31, 23, 30))  # 00:30 on 1 Feb in Berlin
    partly = buy(regular, "20.00", occurred_at=at(2026, 3, 1))
    purchase_refund(purchase=partly, refund_id="R-1", amount=Decimal("5.00"), actor=Actor.system())
    returned = buy(regular, "40.00", occurred_at=at(2026, 4, 1))
    purchase_refund(
        purchase=returned, refund_id="R-2", amount=Decimal("40.00"), actor=Actor.system()
    )
    purchase_record(  # received, not awarded yet: not counted
        partner=partner,
        membership=regular,
        order_id="not-awarded",
        amount=Decimal("99.00"),
        currency="EUR",
        occurred_at=at(2026, 5, 1),
        lines=[],
        award_now=False,
    )
    buy(regular, "70.00", occurred_at=at(2026, 6, 2))  # after the fit's moment
    buy(newcomer, "25.00", occurred_at=at(2026, 5, 1))
    other = ProgramFactory()
    purchase_record(  # the same customer in another program: another fit
        partner=PartnerFactory(programs=[other]),
        membership=membership_enroll(customer=regular.customer, program=other)[0],
        order_id="elsewhere",
        amount=Decimal("80.00"),
        currency="EUR",
        occurred_at=at(2026, 2, 1),
        lines=[],
        award_now=True,
    )

    found = inputs_by_member(program)
    assert never.pk not in found  # no purchase: not a customer of the fit
    assert set(found) == {regular.pk, newcomer.pk}
    # regular: days 1 Jan (60.00), 1 Feb (30.00), 1 Mar (20.00 - 5.00 = 15.00)
    #   frequency = 3 days - 1 = 2; recency = 1 Mar - 1 Jan = 31 + 28 = 59 days
    #   age T = 1 Jun - 1 Jan = 31 + 28 + 31 + 30 + 31 = 151 days
    #   mean spend of the repeat days = (30.00 + 15.00) / 2 = 22.50
    assert found[regular.pk] == (2, 59, 151, 22.50)
    # newcomer: one purchase on 1 May; T = 31 days, no repeat purchase
    assert found[newcomer.pk] == (0, 0, 31, 0)


@pytest.fixture
def buy_in(partner):
    """buy(...) for a program other than the conftest's."""
    counter = {"n": 0}

    def _buy(membership, amount, occurred_at):
        counter["n"] += 1
        purchase_record(
            partner=partner,
            membership=membership,
            order_id=f"sim-{counter['n']}",
            amount=amount,
            currency="EUR",
            occurred_at=occurred_at,
            lines=[],
            award_now=True,
        )

    return _buy


def simulated_histories(n, seed):
    """Purchase days and amounts of n customers drawn from BG/NBD and Gamma-Gamma
    processes (a fixed seed: the same histories on every run)."""
    rng = np.random.default_rng(seed)
    histories = []
    for _ in range(n):
        rate, dropout = rng.gamma(2.0, 1 / 40), rng.beta(1.0, 4.0)
        age = int(rng.integers(30, 360))
        mean_spend = 1 / rng.gamma(4.0, 1 / 120)
        days, t = [0], 0.0
        while True:
            t += rng.exponential(1 / rate)
            if t > age:
                break
            days.append(int(t))
            if rng.random() < dropout:
                break
        first = TODAY - timedelta(days=age)
        histories.append(
            [
                (
                    first + timedelta(days=d),
                    Decimal(str(round(rng.gamma(2.0, mean_spend / 2) + 1, 2))),
                )
                for d in days
            ]
        )
    return histories


def summary(history):
    """(x, t_x, T, m_x) of one history, by the definition: days are transactions."""
    by_day = {}
    for day, amount in history:
        by_day[day] = by_day.get(day, Decimal(0)) + amount
    days = sorted(by_day)
    repeat = [by_day[d] for d in days[1:]]
    mean = float(sum(repeat) / len(repeat)) if repeat else 0.0
    return len(days) - 1, (days[-1] - days[0]).days, (TODAY - days[0]).days, mean


@pytest.fixture
def fitted_program(program, member, buy_in):
    """30 simulated customers and one member who never bought, fitted at NOW."""
    customers = {}
    for history in simulated_histories(30, seed=7):
        membership = member()
        for day, amount in history:
            buy_in(membership, amount, datetime.combine(day, time(10), tzinfo=UTC))
        customers[membership.pk] = summary(history)
    never = member()
    fit = member_value_fit(program=program, now=NOW)
    return fit, customers, never


def test_written_figures_are_the_models_at_the_fitted_parameters(fitted_program, program):
    fit, customers, never = fitted_program
    assert fit.failure_reason == ""
    assert (fit.fitted_at, fit.customers, fit.horizon_months) == (NOW, 30, 12)
    x, t_x, age, m_x = (
        np.array(column, dtype=float) for column in zip(*customers.values(), strict=True)
    )
    assert fit.repeat_customers == int(np.count_nonzero(x))
    assert fit.too_small  # 30 customers, fewer than 100

    # the stored parameters are the maximum-likelihood fit of the inputs computed above
    refit, refit_spend = fit_bgnbd(x, t_x, age), fit_gamma_gamma(x, m_x)
    for stored, expected in (
        ((fit.r, fit.alpha, fit.a, fit.b), (refit.r, refit.alpha, refit.a, refit.b)),
        ((fit.p, fit.q, fit.v), (refit_spend.p, refit_spend.q, refit_spend.v)),
    ):
        assert stored == pytest.approx(expected, rel=1e-4)
    assert fit.log_likelihood == pytest.approx(refit.log_likelihood, rel=1e-9)

    bgnbd = BgNbdParams(fit.r, fit.alpha, fit.a, fit.b, fit.log_likelihood)
    spend = GammaGammaParams(fit.p, fit.q, fit.v)
    alive = probability_alive(bgnbd, x, t_x, age)
    purchases = expected_purchases(bgnbd, 365.25, x, t_x, age)  # 12 months of days
    value = predictive_clv(
        bgnbd,
        spend,
        x,
        t_x,
        age,
        m_x,
        months=12,
        monthly_discount_rate=0.01,
        periods_per_month=365.25 / 12,
    )
    written = MembershipFigures.objects.in_bulk(list(customers))
    assert len(written) == 30
    for i, membership_id in enumerate(customers):
        row = written[membership_id]
        assert float(row.probability_alive) == pytest.approx(alive[i], abs=0.00005)
        assert float(row.expected_purchases) == pytest.approx(purchases[i], abs=0.005)
        assert float(row.predicted_clv) == pytest.approx(value[i], abs=0.005)
        assert (row.clv_horizon_months, row.clv_computed_at) == (12, NOW)
        assert row.engagement_score is None  # the engagement recompute's columns
    assert not MembershipFigures.objects.filter(membership=never).exists()


def test_a_failed_fit_keeps_the_last_good_figures_and_says_why(fitted_program, program):
    fit, _, _ = fitted_program
    before = list(MembershipFigures.objects.order_by("pk").values())
    # as of a moment before any purchase there is nobody to fit
    failed = member_value_fit(program=program, now=datetime(2024, 1, 1, tzinfo=UTC))
    assert failed.failure_reason == "no customer with a counted purchase yet"
    assert (failed.fitted_at, failed.customers, failed.r) == (NOW, 30, fit.r)
    assert list(MembershipFigures.objects.order_by("pk").values()) == before


def test_one_program_failing_does_not_stop_the_others(fitted_program, program):
    small = ProgramFactory()
    partner = PartnerFactory(programs=[small])
    for n in range(3):  # three customers, one purchase each: no repeat customer
        membership = membership_enroll(customer=CustomerFactory(), program=small)[0]
        purchase_record(
            partner=partner,
            membership=membership,
            order_id=f"once-{n}",
            amount=Decimal("10.00"),
            currency="EUR",
            occurred_at=at(2026, 5, 1),
            lines=[],
            award_now=True,
        )
    empty = ProgramFactory()

    assert member_value_fit_all(now=NOW) == 1  # the simulated program only
    parked = MemberValueFit.objects.get(program=small)
    assert parked.failure_reason == "3 customers, none with a repeat purchase"
    assert parked.fitted_at is None
    assert not MembershipFigures.objects.filter(membership__program=small).exists()
    assert MemberValueFit.objects.get(program=empty).failure_reason == (
        "no customer with a counted purchase yet"
    )
    good = MemberValueFit.objects.get(program=program)
    assert (good.failure_reason, good.fitted_at) == ("", NOW)


def test_the_fit_runs_every_night(db):
    program = ProgramFactory()
    assert fit_member_value_task() == 0
    assert MemberValueFit.objects.get(program=program).failure_reason == (
        "no customer with a counted purchase yet"
    )
    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "surveys.tasks.fit_member_value_task" in tasks
