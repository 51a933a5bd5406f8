"""Reads for the dashboard and the partner API: from the snapshots (never the raw
tables) for the dashboard; one aggregate query for a partner's NPS."""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from programs.models import Partner, PartnerCustomer, Program, Tier
from surveys.metrics.formulas import (
    NpsResult,
    ces_from_totals,
    cli_from_totals,
    csat,
    nps,
    points_liability,
    redemption_rate,
    repurchase_rate,
)
from surveys.models import CohortSnapshot, Invitation, MetricSnapshot, Response, ResponseStatus

FLOWS = [
    "nps_promoters",
    "nps_passives",
    "nps_detractors",
    "csat_n",
    "csat_satisfied",
    "ces_n",
    "ces_sum",
    "ces_agree",
    "cli_n",
    "cli_sum",
    "dismissed",
    "points_issued",
    "points_redeemed",
    "points_expired",
]
ENGAGEMENT = [f"engagement_{i}" for i in range(5)]
ENGAGEMENT_LABELS = ["0-19", "20-39", "40-59", "60-79", "80-100"]
STOCKS = [
    "members",
    "members_active",
    "members_at_risk",
    "members_dormant",
    "points_outstanding",
    *ENGAGEMENT,
]
WINDOWS = (30, 90, 180, 365)


@dataclass
class Filters:
    program: Program | None = None
    tier: Tier | None = None
    partner: Partner | None = None
    granularity: str = "month"  # or "quarter"
    months: int = 18


@dataclass
class Period:
    label: str
    start: date
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def nps(self) -> NpsResult | None:
        c = self.counts
        return nps(c["nps_promoters"], c["nps_passives"], c["nps_detractors"])


def period_label(month: date, granularity: str) -> tuple[str, date]:
    if granularity == "quarter":
        quarter = (month.month - 1) // 3
        return f"{month.year} Q{quarter + 1}", date(month.year, quarter * 3 + 1, 1)
    return f"{month:%Y-%m}", month


def _scoped(filters: Filters) -> QuerySet[MetricSnapshot]:
    rows = MetricSnapshot.objects.filter(partner=filters.partner)  # None: all partners
    if filters.program is not None:
        rows = rows.filter(program=filters.program)
    if filters.tier is not None:
        rows = rows.filter(tier=filters.tier)
    return rows


def metric_periods(filters: Filters, *, today: date | None = None) -> list[Period]:
    """Flows per month or quarter, summed from the monthly snapshot counts (exact)."""
    today = today or timezone.localdate()
    first = date(today.year, today.month, 1) - relativedelta(months=filters.months - 1)
    monthly = (
        _scoped(filters)
        .filter(period__gte=first)
        .values("period")
        .annotate(**{name: Sum(name) for name in FLOWS})
        .order_by("period")
    )
    periods: dict[date, Period] = {}
    for row in monthly:
        label, start = period_label(row.pop("period"), filters.granularity)
        period = periods.setdefault(start, Period(label, start, dict.fromkeys(FLOWS, 0)))
        for name, value in row.items():
            period.counts[name] += value or 0
    return list(periods.values())


def totals(periods: list[Period]) -> dict[str, int]:
    return {name: sum(p.counts[name] for p in periods) for name in FLOWS}


def summary(periods: list[Period]) -> dict:
    t = totals(periods)
    return {
        "nps": nps(t["nps_promoters"], t["nps_passives"], t["nps_detractors"]),
        "csat": csat({4: t["csat_satisfied"], 1: t["csat_n"] - t["csat_satisfied"]}),
        "ces": ces_from_totals(t["ces_sum"], t["ces_agree"], t["ces_n"]),
        "cli": cli_from_totals(t["cli_sum"], t["cli_n"]),
        "redemption_rate": redemption_rate(t["points_issued"], t["points_redeemed"]),
        "totals": t,
    }


def latest_stocks(filters: Filters) -> dict:
    """Members by tier, activity bands and the points liability from the newest snapshot
    month that has stocks."""
    rows = _scoped(filters).filter(members__gt=0)
    latest = rows.order_by("-period").values_list("period", flat=True).first()
    if latest is None:
        return {"period": None, "tiers": [], "liability": None, "bands": None, "engagement": []}
    by_tier = list(
        rows.filter(period=latest)
        .values("tier__name", "tier__rank", "program__name", "program__point_value")
        .annotate(**{name: Sum(name) for name in STOCKS})
        .order_by("program__name", "tier__rank")
    )
    liability = sum(
        (points_liability(r["points_outstanding"], r["program__point_value"]) for r in by_tier),
        Decimal("0.00"),
    )
    bands = {
        name: sum(r[name] for r in by_tier)
        for name in (
            "members",
            "members_active",
            "members_at_risk",
            "members_dormant",
            "points_outstanding",
        )
    }
    engagement = [
        (label, sum(r[name] for r in by_tier))
        for label, name in zip(ENGAGEMENT_LABELS, ENGAGEMENT, strict=True)
    ]
    return {
        "period": latest,
        "tiers": by_tier,
        "liability": liability,
        "bands": bands,
        "engagement": engagement if any(n for _label, n in engagement) else [],
    }


def cohort_rows(filters: Filters, *, cohorts: int = 12) -> list[dict]:
    """The last ``cohorts`` cohort months with their repurchase rates per window."""
    rows = CohortSnapshot.objects.all()
    if filters.program is not None:
        rows = rows.filter(program=filters.program)
    if filters.tier is not None:
        rows = rows.filter(tier=filters.tier)
    grouped = list(
        rows.values("cohort")
        .annotate(customers=Sum("customers"), **{f"w{d}": Sum(f"within_{d}") for d in WINDOWS})
        .order_by("-cohort")[:cohorts]
    )
    return [
        {
            "cohort": row["cohort"],
            "customers": row["customers"],
            "rates": [
                (d, row[f"w{d}"], repurchase_rate(row["customers"], row[f"w{d}"])) for d in WINDOWS
            ],
        }
        for row in reversed(grouped)
    ]


def partner_nps(
    *,
    partner: Partner,
    program: Program | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict:
    """NPS over answered NPS responses of the partner's own members (customers it linked)
    in its programs; one aggregate query."""
    responses = Response.objects.filter(
        kind="nps",
        status=ResponseStatus.ANSWERED,
        program__partners=partner,
    ).filter(
        Exists(
            PartnerCustomer.objects.filter(
                partner=partner, customer=OuterRef("membership__customer")
            )
        )
    )
    if program is not None:
        responses = responses.filter(program=program)
    if since is not None:
        responses = responses.filter(submitted_at__gte=since)
    if until is not None:
        responses = responses.filter(submitted_at__lt=until)
    counts = responses.aggregate(
        promoters=Count("pk", filter=Q(score__gte=9)),
        passives=Count("pk", filter=Q(score__gte=7, score__lte=8)),
        detractors=Count("pk", filter=Q(score__lte=6)),
    )
    return {"counts": counts, "result": nps(**counts)}


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
