"""Reads of the fitted customer value for the staff dashboard: one program's predicted
CLV, expected active customers and the fit they come from, for the members a filter
selects. The per-member figures are those of the program's last good nightly fit
(``surveys.services.member_value``); this module sums them, it fits nothing."""

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, Sum
from django.utils import timezone

from loyalty_site.core.cache import cache_get, cache_set
from programs.models import (
    MembershipFigures,
    Partner,
    PartnerCustomer,
    Program,
    Purchase,
    PurchaseStatus,
)
from surveys.metrics.member_value import MIN_CUSTOMERS, MIN_REPEAT_CUSTOMERS
from surveys.models import MemberValueFit

SUMMARY_SECONDS = 600
"""How long a filter's sums are kept. The per-member figures change only when a fit runs,
and a new fit makes a new key; the months filter also counts recent purchases, which may
show up to this late. Summing 100,000 members took about half the dashboard's time."""


@dataclass(frozen=True)
class ProgramValueSummary:
    """``members``: the filtered members with figures (customers of the fit). Money in
    ``currency``; ``clv_sum`` / ``clv_mean`` / ``expected_active`` are None without
    members. ``fitted_at`` None: no fit has succeeded yet."""

    program: Program
    currency: str
    members: int
    clv_sum: Decimal | None
    clv_mean: Decimal | None
    expected_active: Decimal | None
    horizon_months: int | None
    sample_size: int
    repeat_customers: int
    fitted_at: datetime | None
    too_small: bool
    attempted_at: datetime | None
    failure_reason: str
    min_customers: int = MIN_CUSTOMERS
    min_repeat_customers: int = MIN_REPEAT_CUSTOMERS


def _months_start(months: int, today: date) -> datetime:
    """Local midnight of the first day of the month ``months - 1`` months ago (the
    dashboard's months filter: 1 is the current month)."""
    first = date(today.year, today.month, 1) - relativedelta(months=months - 1)
    return timezone.make_aware(datetime.combine(first, time.min))


def program_value_summary(
    program: Program,
    *,
    partner: Partner | None = None,
    months: int | None = None,
    today: date | None = None,
) -> ProgramValueSummary:
    """One program's summary (``programs_value_summaries`` for one program)."""
    return programs_value_summaries([program], partner=partner, months=months, today=today)[0]


def programs_value_summaries(
    programs: list[Program],
    *,
    partner: Partner | None = None,
    months: int | None = None,
    today: date | None = None,
) -> list[ProgramValueSummary]:
    """Per program, in order: sum and mean predicted CLV, expected active customers (the
    sum of P(alive)) and the fit's sample size, time and too-small warning, for the
    program's members that

    * ``partner``: the partner has linked, in the partner's programs (others: none),
    * ``months``: made a counted purchase (awarded, not refunded in full) in the
      program since the first day of the month ``months - 1`` months before ``today``.

    The fit itself is the program's, whatever the filter: the filter slices its
    per-member results. At most three queries whatever the number of programs; one while
    the sums for this filter and these fits are in the cache (``SUMMARY_SECONDS``)."""
    if not programs:
        return []
    fits = {fit.program_id: fit for fit in MemberValueFit.objects.filter(program__in=programs)}
    since = _months_start(months, today or timezone.localdate()) if months is not None else None
    key = _summary_key(programs, fits, partner, since)
    totals = cache_get(key)
    if totals is None:
        totals = _totals(programs, partner, since)
        cache_set(key, totals, SUMMARY_SECONDS)
    return [_summary(program, totals.get(program.pk), fits.get(program.pk)) for program in programs]


def _summary_key(programs, fits: dict, partner: Partner | None, since: datetime | None) -> str:
    """The filter and the fits it slices: a new fit, another filter, another key."""
    parts = [(p.pk, str(fits[p.pk].attempted_at) if p.pk in fits else "") for p in programs]
    raw = repr((parts, partner.pk if partner else None, str(since)))
    return "surveys:value-summary:" + hashlib.sha256(raw.encode()).hexdigest()


def _totals(programs, partner: Partner | None, since: datetime | None) -> dict[int, dict]:
    """Members, summed CLV and summed P(alive) per program for the filter."""
    figures = MembershipFigures.objects.filter(
        membership__program__in=programs, predicted_clv__isnull=False
    )
    if partner is not None:
        figures = figures.filter(
            membership__program__in=partner.programs.all(),
        ).filter(
            Exists(
                PartnerCustomer.objects.filter(
                    partner=partner, customer_id=OuterRef("membership__customer_id")
                )
            )
        )
    if since is not None:
        figures = figures.filter(
            Exists(
                Purchase.objects.filter(
                    membership_id=OuterRef("membership_id"),
                    status=PurchaseStatus.AWARDED,
                    refunded_amount__lt=F("amount"),
                    occurred_at__gte=since,
                )
            )
        )
    return {
        row["membership__program"]: row
        for row in figures.values("membership__program").annotate(
            members=Count("pk"), clv=Sum("predicted_clv"), alive=Sum("probability_alive")
        )
    }


def _summary(program: Program, totals: dict | None, fit) -> ProgramValueSummary:
    members = totals["members"] if totals else 0
    clv = totals["clv"] if totals else None
    places = Decimal(1).scaleb(-settings.CURRENCY_DECIMALS.get(program.currency, 2))
    mean = (clv / members).quantize(places, ROUND_HALF_UP) if members else None
    return ProgramValueSummary(
        program=program,
        currency=program.currency,
        members=members,
        clv_sum=clv,
        clv_mean=mean,
        expected_active=totals["alive"] if totals else None,
        horizon_months=fit.horizon_months if fit and fit.fitted_at else None,
        sample_size=fit.customers if fit else 0,
        repeat_customers=fit.repeat_customers if fit else 0,
        fitted_at=fit.fitted_at if fit else None,
        too_small=bool(fit and fit.too_small),
        attempted_at=fit.attempted_at if fit else None,
        failure_reason=fit.failure_reason if fit else "",
    )
