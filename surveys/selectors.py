"""Reads for the dashboard and the partner API: from the snapshots (never the raw
tables) for the dashboard; for a partner's NPS the same counting query the snapshots
use (``surveys.figures.answers``), over the span the partner asks for."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from dateutil.relativedelta import relativedelta
from django.db.models import Max, QuerySet, Sum
from django.utils import timezone

from programs.models import Partner, Program, Tier
from surveys.figures.answers import ANSWER_FIELDS, answer_counts
from surveys.figures.cohorts import REPURCHASE_WINDOWS
from surveys.figures.spans import (
    DEFAULT_WINDOW_MONTHS,
    Span,
    local_midnight,
    quarter_start,
    window_first_month,
)
from surveys.metrics.formulas import (
    MIN_ANSWERS,
    NpsReport,
    ces_from_totals,
    cli_from_totals,
    csat,
    nps_report,
    repurchase_rate,
    retention_rate,
)
from surveys.metrics.points import redemption_rate
from surveys.models import CohortSnapshot, Invitation, MetricSnapshot, SpanKind, SpanSnapshot

POINT_FLOWS = ["points_issued", "points_redeemed", "points_expired"]
BUYERS = ["buyers", "buyers_before", "buyers_retained"]
ENGAGEMENT = [f"engagement_{i}" for i in range(5)]
ENGAGEMENT_LABELS = ["0-19", "20-39", "40-59", "60-79", "80-100"]
STOCKS = [
    "members",
    "members_active",
    "members_at_risk",
    "members_dormant",
    "points_outstanding",
    "points_pending",
    *ENGAGEMENT,
]
WINDOWS = REPURCHASE_WINDOWS


@dataclass
class Filters:
    program: Program | None = None
    tier: Tier | None = None
    partner: Partner | None = None
    granularity: str = "month"  # or "quarter"
    months: int = DEFAULT_WINDOW_MONTHS


def _nps(counts: dict) -> NpsReport | None:
    return nps_report(counts["nps_promoters"], counts["nps_passives"], counts["nps_detractors"])


def retention_of(counts: dict) -> float | None:
    """Retention of a span: buyers of the span before who bought again in this one, of
    all buyers of the span before (``retention_rate`` with customers at start = buyers
    before, at end = buyers, new = buyers who had not bought in the span before)."""
    return retention_rate(
        counts["buyers_before"], counts["buyers"], counts["buyers"] - counts["buyers_retained"]
    )


@dataclass
class Period:
    label: str
    start: date
    complete: bool = True
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def nps(self) -> NpsReport | None:
        return _nps(self.counts)

    @property
    def retention(self) -> float | None:
        return retention_of(self.counts) if self.complete else None


def period_label(month: date, granularity: str) -> tuple[str, date]:
    if granularity == "quarter":
        start = quarter_start(month)
        return f"{start.year} Q{(start.month - 1) // 3 + 1}", start
    return f"{month:%Y-%m}", month


def scoped(rows: QuerySet, filters: Filters) -> QuerySet:
    """Snapshot rows of the filters: the partner's rows (None: all members), of the
    program and tier if chosen."""
    rows = rows.filter(partner=filters.partner)
    if filters.program is not None:
        rows = rows.filter(program=filters.program)
    if filters.tier is not None:
        rows = rows.filter(tier=filters.tier)
    return rows


def first_month(filters: Filters, today: date) -> date:
    """The first month the charts show: the window's, at the start of its quarter when
    the charts count per quarter (a quarter is shown whole or not at all)."""
    first = window_first_month(filters.months, today)
    return quarter_start(first) if filters.granularity == "quarter" else first


def metric_periods(filters: Filters, *, today: date | None = None) -> list[Period]:
    """Per month or quarter: points from the monthly snapshots (sums, exact); answers and
    buyers from the rows of the month or the quarter (one answer per member each)."""
    today = today or timezone.localdate()
    first = first_month(filters, today)
    quarterly = filters.granularity == "quarter"
    names = [*POINT_FLOWS, *ANSWER_FIELDS, *BUYERS, "dismissed"]
    summed = [*POINT_FLOWS, "dismissed"] if quarterly else names
    monthly = (
        scoped(MetricSnapshot.objects, filters)
        .filter(period__gte=first)
        .values("period")
        .annotate(**{name: Sum(name) for name in summed})
        .order_by("period")
    )
    current = date(today.year, today.month, 1)
    periods: dict[date, Period] = {}
    for row in monthly:
        label, start = period_label(row.pop("period"), filters.granularity)
        period = periods.setdefault(start, Period(label, start, counts=dict.fromkeys(names, 0)))
        for name, value in row.items():
            period.counts[name] += value or 0
    if quarterly:
        quarters = (
            scoped(SpanSnapshot.objects, filters)
            .filter(span=SpanKind.QUARTER, start__gte=first)
            .values("start")
            .annotate(**{name: Sum(name) for name in [*ANSWER_FIELDS, *BUYERS]})
        )
        for row in quarters:
            start = row.pop("start")
            label, _start = period_label(start, "quarter")
            period = periods.setdefault(start, Period(label, start, counts=dict.fromkeys(names, 0)))
            period.counts.update({name: value or 0 for name, value in row.items()})
    months = 3 if quarterly else 1
    for period in periods.values():
        period.complete = period.start + relativedelta(months=months) <= current
    return [periods[start] for start in sorted(periods)]


def window_totals(filters: Filters) -> dict:
    """The window's answers (one per member in the whole window) and buyer figures,
    summed over the rows of the filters; ``computed_at`` and ``start`` of the window."""
    names = [*ANSWER_FIELDS, *BUYERS, "repeat_buyers", "purchases"]
    names += ["single_product_buyers", "multi_product_buyers"]
    rows = scoped(SpanSnapshot.objects, filters).filter(span=SpanKind.WINDOW, months=filters.months)
    found = rows.aggregate(
        **{name: Sum(name) for name in names}, computed_at=Max("computed_at"), start=Max("start")
    )
    return {name: (value or 0) if name in names else value for name, value in found.items()}


def summary(filters: Filters, *, today: date | None = None) -> dict:
    """The headline figures of the window (the last ``filters.months`` months): survey
    figures counting each member's latest answer in the window, the redemption rate from
    the window's points, and which figures have too few answers for a margin."""
    today = today or timezone.localdate()
    window = window_totals(filters)
    points = (
        scoped(MetricSnapshot.objects, filters)
        .filter(period__gte=window_first_month(filters.months, today))
        .aggregate(**{name: Sum(name) for name in POINT_FLOWS})
    )
    points = {name: value or 0 for name, value in points.items()}
    return {
        "nps": _nps(window),
        "csat": csat({4: window["csat_satisfied"], 1: window["csat_n"] - window["csat_satisfied"]}),
        "csat_n": window["csat_n"],
        "ces": ces_from_totals(window["ces_sum"], window["ces_agree"], window["ces_n"]),
        "cli": cli_from_totals(window["cli_sum"], window["cli_n"]),
        "cli_n": window["cli_n"],
        "too_few": {kind: window[f"{kind}_n"] < MIN_ANSWERS for kind in ("csat", "ces", "cli")},
        "redemption_rate": redemption_rate(points["points_issued"], points["points_redeemed"]),
        "window": window,
        "points": points,
    }


def latest_stocks(filters: Filters) -> dict:
    """Members by tier, activity bands and engagement bands from the newest snapshot
    month that has stocks."""
    rows = scoped(MetricSnapshot.objects, filters).filter(members__gt=0)
    latest = rows.order_by("-period").values_list("period", flat=True).first()
    if latest is None:
        return {"period": None, "tiers": [], "bands": None, "engagement": []}
    by_tier = list(
        rows.filter(period=latest)
        .values("program", "program__name", "tier__name", "tier__rank")
        .annotate(**{name: Sum(name) for name in STOCKS})
        .order_by("program__name", "tier__rank")
    )
    bands = {name: sum(r[name] for r in by_tier) for name in STOCKS if name not in ENGAGEMENT}
    engagement = [
        (label, sum(r[name] for r in by_tier))
        for label, name in zip(ENGAGEMENT_LABELS, ENGAGEMENT, strict=True)
    ]
    return {
        "period": latest,
        "tiers": by_tier,
        "bands": bands,
        "engagement": engagement if any(n for _label, n in engagement) else [],
    }


NOT_YET = "not yet"
"""A cohort cell whose window has not passed for every member of the cohort."""


def cohort_rows(filters: Filters, *, today: date | None = None) -> list[dict]:
    """The cohorts of the window's months with their repurchase rates per window of
    days; a window that has not yet passed for the whole cohort (it ends after the
    snapshot was computed) is ``NOT_YET``, not a rate."""
    today = today or timezone.localdate()
    rows = scoped(CohortSnapshot.objects, filters).filter(
        cohort__gte=window_first_month(filters.months, today)
    )
    grouped = (
        rows.values("cohort")
        .annotate(
            customers=Sum("customers"),
            computed_at=Max("computed_at"),
            **{f"w{d}": Sum(f"within_{d}") for d in WINDOWS},
        )
        .order_by("cohort")
    )
    out = []
    for row in grouped:
        last_first_purchase = local_midnight(row["cohort"] + relativedelta(months=1))
        rates = []
        for d in WINDOWS:
            if last_first_purchase + timedelta(days=d) > row["computed_at"]:
                rates.append((d, None, NOT_YET))
            else:
                rates.append((d, row[f"w{d}"], repurchase_rate(row["customers"], row[f"w{d}"])))
        out.append({"cohort": row["cohort"], "customers": row["customers"], "rates": rates})
    return out


_EARLIEST = datetime(1, 1, 2, tzinfo=UTC)
_LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def partner_nps(
    *,
    partner: Partner,
    program: Program | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict:
    """NPS of the partner's members (the customers it linked, in its programs), each
    member's latest NPS answer in [``since``, ``until``): the counting rule and partner
    rule of the dashboard, by the same query."""
    start, end = since or _EARLIEST, until or _LATEST
    span = Span(first=start.date(), months=0, start_at=start, end_at=end, before_at=start)
    rows = answer_counts(
        [span],
        everyone=False,
        partner_id=partner.pk,
        program_id=program.pk if program is not None else None,
    )
    counts = {
        "promoters": sum(r["nps_promoters"] for r in rows),
        "passives": sum(r["nps_passives"] for r in rows),
        "detractors": sum(r["nps_detractors"] for r in rows),
    }
    return {"counts": counts, "result": nps_report(**counts)}


def invitations_open_for(customer, *, now: datetime | None = None) -> QuerySet[Invitation]:
    """The customer's invitations that can still be answered: not answered, not
    dismissed, not expired, of an active survey; newest first, with survey and program."""
    now = now or timezone.now()
    return (
        Invitation.objects.filter(
            customer=customer,
            answered_at__isnull=True,
            dismissed_at__isnull=True,
            expires_at__gt=now,
            survey__is_active=True,
        )
        .select_related("survey__program")
        .order_by("-created_at", "-id")
    )
