"""The dashboard's figures per program, under its filters (program, tier, partner,
months): repurchase rate, upsell ratio, retention and churn per period, historical
customer lifetime value, and the points liability (available, pending, expected
breakage) with totals per currency. Reads the snapshots only; docs/metrics.md gives
every formula with an example."""

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from fractions import Fraction

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db.models import Max, Sum
from django.utils import timezone

from programs.models import Program
from surveys.figures.spans import local_midnight
from surveys.metrics.formulas import (
    churn_rate,
    customer_value,
    historical_clv,
    repurchase_rate,
    upsell_ratio,
)
from surveys.metrics.points import breakage_share, expected_breakage, money_round, points_value
from surveys.models import MetricSnapshot, SpanKind, SpanSnapshot
from surveys.selectors import (
    BUYERS,
    Filters,
    first_month,
    period_label,
    retention_of,
    scoped,
)

DAYS_PER_YEAR = Decimal("365.25")
WINDOW_FIELDS = [
    *BUYERS,
    "repeat_buyers",
    "purchases",
    "revenue",
    "lifetime_days",
    "single_product_buyers",
    "multi_product_buyers",
]


def currency_decimals(currency: str) -> int:
    return settings.CURRENCY_DECIMALS.get(currency, 2)


@dataclass
class ProgramFigures:
    """One program's figures. Money in the program's currency; the ``*_value`` and
    ``expected_breakage`` amounts are exact (totals add them up and round once), the
    ``shown_*`` ones rounded for display."""

    program: Program
    members: int = 0
    points_available: int = 0
    points_pending: int = 0
    breakage: Fraction | None = None
    window: dict = field(default_factory=dict)
    window_days: Decimal | None = None
    retention_counts: dict | None = None  # of the last complete period
    retention_period: str | None = None

    @property
    def currency(self) -> str:
        return self.program.currency

    def _round(self, amount) -> Decimal | None:
        return None if amount is None else money_round(amount, currency_decimals(self.currency))

    @property
    def percent(self) -> dict[str, float | None]:
        """Repurchase rate, retention and churn in per cent, one decimal, for display."""
        rates = {
            "repurchase": self.repurchase_rate,
            "retention": self.retention,
            "churn": self.churn,
        }
        return {name: None if r is None else round(r * 100, 1) for name, r in rates.items()}

    # --- buying behaviour over the window
    @property
    def repurchase_rate(self) -> float | None:
        return repurchase_rate(self.window.get("buyers", 0), self.window.get("repeat_buyers", 0))

    @property
    def upsell_ratio(self) -> float | None:
        return upsell_ratio(
            self.window.get("multi_product_buyers", 0), self.window.get("single_product_buyers", 0)
        )

    @property
    def retention(self) -> float | None:
        return None if self.retention_counts is None else retention_of(self.retention_counts)

    @property
    def churn(self) -> float | None:
        counts = self.retention_counts
        if counts is None:
            return None
        new = counts["buyers"] - counts["buyers_retained"]
        return churn_rate(counts["buyers_before"], counts["buyers"], new)

    @property
    def avg_purchase_value(self) -> Decimal | None:
        purchases = self.window.get("purchases", 0)
        return self.window["revenue"] / purchases if purchases else None

    @property
    def purchases_per_year(self) -> Decimal | None:
        buyers = self.window.get("buyers", 0)
        if not buyers or not self.window_days:
            return None
        return Decimal(self.window["purchases"]) / buyers / (self.window_days / DAYS_PER_YEAR)

    @property
    def lifetime_years(self) -> Decimal | None:
        buyers = self.window.get("buyers", 0)
        return self.window["lifetime_days"] / buyers / DAYS_PER_YEAR if buyers else None

    @property
    def historical_clv(self) -> Decimal | None:
        """customer value per year (average purchase value x purchases per buyer and
        year) x average customer lifetime in years."""
        value, per_year = self.avg_purchase_value, self.purchases_per_year
        if value is None or per_year is None:
            return None
        return historical_clv(customer_value(value, per_year), self.lifetime_years)

    @property
    def shown_clv(self) -> Decimal | None:
        return self._round(self.historical_clv)

    @property
    def shown_avg_purchase_value(self) -> Decimal | None:
        return self._round(self.avg_purchase_value)

    # --- points liability, exact
    @property
    def available_value(self) -> Decimal:
        return points_value(self.points_available, self.program.point_value)

    @property
    def pending_value(self) -> Decimal:
        return points_value(self.points_pending, self.program.point_value)

    @property
    def expected_breakage(self) -> Fraction | None:
        outstanding = self.points_available + self.points_pending
        return expected_breakage(outstanding, self.program.point_value, self.breakage)

    @property
    def shown_available(self) -> Decimal:
        return self._round(self.available_value)

    @property
    def shown_pending(self) -> Decimal:
        return self._round(self.pending_value)

    @property
    def shown_breakage(self) -> Decimal | None:
        return self._round(self.expected_breakage)


@dataclass
class CurrencyLiability:
    """The liability of the programs of one currency, each sum exact until rounded here,
    once. ``expected_breakage`` None: no program of the currency has issued points."""

    currency: str
    available: Decimal
    pending: Decimal
    expected_breakage: Decimal | None
    points_available: int
    points_pending: int


def currency_liabilities(programs: list[ProgramFigures]) -> list[CurrencyLiability]:
    out = []
    for currency in sorted({p.currency for p in programs}):
        mine = [p for p in programs if p.currency == currency]
        breakages = [p.expected_breakage for p in mine if p.expected_breakage is not None]
        decimals = currency_decimals(currency)
        out.append(
            CurrencyLiability(
                currency=currency,
                available=money_round(sum((p.available_value for p in mine), Decimal(0)), decimals),
                pending=money_round(sum((p.pending_value for p in mine), Decimal(0)), decimals),
                expected_breakage=money_round(sum(breakages, Fraction(0)), decimals)
                if breakages
                else None,
                points_available=sum(p.points_available for p in mine),
                points_pending=sum(p.points_pending for p in mine),
            )
        )
    return out


def retention_series(
    filters: Filters, *, today: date | None = None
) -> tuple[list[str], dict[int, list[dict | None]]]:
    """The retention's counts per complete period (month or quarter) of the window, per
    program id: the period labels and each program's ``buyers``, ``buyers_before`` and
    ``buyers_retained`` per period (None: no row, nobody bought)."""
    today = today or timezone.localdate()
    first = first_month(filters, today)
    current = date(today.year, today.month, 1)
    if filters.granularity == "quarter":
        rows = scoped(SpanSnapshot.objects, filters).filter(span=SpanKind.QUARTER, start__gte=first)
        period_field, months = "start", 3
    else:
        rows = scoped(MetricSnapshot.objects, filters).filter(period__gte=first)
        period_field, months = "period", 1
    grouped = (
        rows.values(period_field, "program")
        .annotate(**{name: Sum(name) for name in BUYERS})
        .order_by(period_field)
    )
    starts, by_program = [], {}
    for row in grouped:
        start = row[period_field]
        over = start + relativedelta(months=months) <= current
        if not over or not (row["buyers"] or row["buyers_before"]):
            continue  # not over yet, or nobody bought in it nor in the period before
        if start not in starts:
            starts.append(start)
        by_program.setdefault(row["program"], {})[start] = {name: row[name] for name in BUYERS}
    starts.sort()
    series = {pid: [counts.get(s) for s in starts] for pid, counts in by_program.items()}
    return [period_label(s, filters.granularity)[0] for s in starts], series


def _window_days(start: date | None, computed_at: datetime | None) -> Decimal | None:
    if start is None or computed_at is None:
        return None
    seconds = (computed_at - local_midnight(start)).total_seconds()
    return Decimal(str(seconds)) / 86400


def program_figures(
    filters: Filters, *, stocks: dict, retention: tuple[list[str], dict]
) -> list[ProgramFigures]:
    """One ``ProgramFigures`` per program the filters select that has snapshot rows;
    ``stocks`` from ``latest_stocks`` and ``retention`` from ``retention_series`` of the
    same filters."""
    figures: dict[int, ProgramFigures] = {}

    def of(program_id: int) -> ProgramFigures:
        return figures.setdefault(program_id, ProgramFigures(program=None))

    for row in stocks["tiers"]:
        found = of(row["program"])
        found.members += row["members"]
        found.points_available += row["points_outstanding"]
        found.points_pending += row["points_pending"]
    window = scoped(SpanSnapshot.objects, filters).filter(
        span=SpanKind.WINDOW, months=filters.months
    )
    for row in window.values("program").annotate(
        **{name: Sum(name) for name in WINDOW_FIELDS},
        computed_at=Max("computed_at"),
        start=Max("start"),
    ):
        found = of(row["program"])
        found.window_days = _window_days(row.pop("start"), row.pop("computed_at"))
        found.window = {name: row[name] or 0 for name in WINDOW_FIELDS}
    # the program's own history: all members, all tiers, every month built
    history = (
        MetricSnapshot.objects.filter(partner=None, program__in=list(figures))
        .values("program")
        .annotate(issued=Sum("points_issued"), expired=Sum("points_expired"))
    )
    for row in history:
        if row["expired"] <= row["issued"]:  # else the snapshots miss early months
            figures[row["program"]].breakage = breakage_share(row["issued"], row["expired"])
    labels, series = retention
    for program_id, counts in series.items():
        if program_id in figures and labels:
            figures[program_id].retention_counts = counts[-1]
            figures[program_id].retention_period = labels[-1]
    for program in Program.objects.filter(pk__in=list(figures)):
        figures[program.pk].program = program
    return sorted(figures.values(), key=lambda f: f.program.name)
