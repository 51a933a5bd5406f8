"""The nightly snapshots: every metric's counts per month, program, tier and partner,
computed with a handful of GROUP BY queries (no per-customer Python loops)."""

from collections import defaultdict
from datetime import date, datetime, timedelta

from celery import current_app
from dateutil.relativedelta import relativedelta
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from loyalty_site.core.commit import run_after_commit
from programs.models import (
    EntryKind,
    LedgerEntry,
    Membership,
    PointLot,
    Program,
    Purchase,
    PurchaseStatus,
)
from surveys.metrics.formulas import ACTIVE_WITHIN_DAYS, DORMANT_AFTER_DAYS
from surveys.models import CohortSnapshot, MetricSnapshot, Response, ResponseStatus

REPURCHASE_WINDOWS = (30, 90, 180, 365)

_RESPONSE_COUNTS = {
    "nps_promoters": Count("pk", filter=Q(kind="nps", score__gte=9)),
    "nps_passives": Count("pk", filter=Q(kind="nps", score__gte=7, score__lte=8)),
    "nps_detractors": Count("pk", filter=Q(kind="nps", score__lte=6)),
    "csat_n": Count("pk", filter=Q(kind="csat")),
    "csat_satisfied": Count("pk", filter=Q(kind="csat", score__gte=4)),
    "ces_n": Count("pk", filter=Q(kind="ces")),
    "ces_sum": Coalesce(Sum("score", filter=Q(kind="ces")), 0),
    "ces_agree": Count("pk", filter=Q(kind="ces", score__gte=5)),
    "cli_n": Count("pk", filter=Q(kind="cli")),
    "cli_sum": Coalesce(Sum("cli_total", filter=Q(kind="cli")), 0),
}
_LEDGER_SUMS = {
    # issued: earned (available or still pending) and positive staff adjustments
    "points_issued": Coalesce(
        Sum(F("points") + F("pending_points"), filter=Q(kind=EntryKind.EARN)), 0
    )
    + Coalesce(Sum("points", filter=Q(kind=EntryKind.ADJUST, points__gt=0)), 0),
    # redeemed net of cancelled redemptions; expired as a positive number
    "points_redeemed": -Coalesce(
        Sum("points", filter=Q(kind__in=[EntryKind.REDEEM, EntryKind.REDEEM_CANCEL])), 0
    ),
    "points_expired": -Coalesce(Sum("points", filter=Q(kind=EntryKind.EXPIRE)), 0),
}


REFRESH_DELAY_SECONDS = 60
SNAPSHOTS_TASK = "surveys.tasks.build_snapshots_task"


def snapshots_refresh_soon() -> None:
    """After a survey answer: rebuild the current month's snapshots about a minute after
    the commit, once per minute however many answers arrive, so a new answer shows up on
    the dashboard (which reads snapshots) without waiting for the nightly run. The task
    is found by name: the tasks module imports this one."""
    build_snapshots_task = current_app.tasks[SNAPSHOTS_TASK]

    def schedule() -> None:
        # decided at commit time, so a rolled-back answer does not hold the slot
        if cache.add("surveys:snapshots-refresh", 1, timeout=REFRESH_DELAY_SECONDS):
            build_snapshots_task.apply_async(
                kwargs={"months": 1}, countdown=REFRESH_DELAY_SECONDS
            )  # a refresh already scheduled includes this answer

    run_after_commit(schedule, "build_snapshots_task.apply_async")  # outage: nightly run


def month_start(at: datetime | date) -> date:
    local = timezone.localtime(at) if isinstance(at, datetime) else at
    return date(local.year, local.month, 1)


def _as_date(value) -> date:
    return value.date() if isinstance(value, datetime) else value


class _Rows:
    """Counts keyed by (month, program, tier, partner); partner None = all partners."""

    def __init__(self):
        self.rows: dict[tuple, dict[str, int]] = defaultdict(dict)

    def add(
        self,
        queryset,
        *,
        month_field: str | None,
        partner_field: str | None,
        month=None,
        with_total: bool = False,
    ):
        """Add grouped counts. ``with_total``: the partner is a column of each counted row
        (at most one partner per row), so the all-partners counts are the sums over the
        partner groups (and the rows of no partner) and need no query of their own."""
        for row in queryset:
            group = (
                _as_date(row.pop("g_month")) if month_field else month,
                row.pop("g_program"),
                row.pop("g_tier"),
            )
            partner = row.pop("g_partner") if partner_field else None
            keys = []
            if partner is not None:
                keys.append((*group, partner))
            if not partner_field or with_total:
                keys.append((*group, None))
            # a partner query without totals skips the rows of no partner: they are
            # already in the "all" rows
            for key in keys:
                counts = self.rows[key]
                for name, value in row.items():
                    counts[name] = counts.get(name, 0) + (value or 0)


def _grouped(
    queryset, *, time: str | None, program: str, tier: str, partner: str | None, aggregates: dict
):
    fields = {"g_program": F(program), "g_tier": F(tier)}
    if time:
        fields["g_month"] = TruncMonth(time)
    if partner:
        fields["g_partner"] = F(partner)
    return queryset.values(**fields).annotate(**aggregates).order_by()


def snapshots_build(*, months: int | None = 2, now: datetime | None = None) -> int:
    """Rebuild the snapshots of the last ``months`` months (all history if None) and all
    cohorts. Replaces the rows it recomputes in one transaction (readers see the old or
    the new numbers, never a mix); programs are locked so two runs queue up.
    Returns the number of snapshot rows written."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:  # SET LOCAL ends with this transaction; never with a caller's
            with connection.cursor() as cursor:
                # The correlated subqueries (cohorts) give huge cost estimates, which turn
                # on JIT compilation; compiling took about as long as running them.
                cursor.execute("SET LOCAL jit = off")
        return _build(months=months, now=now or timezone.now())


def _build(*, months: int | None, now: datetime) -> int:
    list(Program.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
    current = month_start(now)
    if months is None:
        firsts = [
            Response.objects.aggregate(first=Min("submitted_at"))["first"],
            LedgerEntry.objects.aggregate(first=Min("created_at"))["first"],
            PointLot.objects.aggregate(first=Min("earned_at"))["first"],
        ]
        start = min((month_start(f) for f in firsts if f), default=current)
    else:
        start = current - relativedelta(months=months - 1)
    start_at = datetime(start.year, start.month, 1, tzinfo=timezone.get_current_timezone())
    rows = _Rows()

    answered = Response.objects.filter(status=ResponseStatus.ANSWERED, submitted_at__gte=start_at)
    dismissed = Response.objects.filter(status=ResponseStatus.DISMISSED, submitted_at__gte=start_at)
    # An earn counts in the month it was earned (the purchase's or action's time, which
    # a late or back-dated report keeps); other movements when they were booked.
    entries = LedgerEntry.objects.annotate(
        at=Coalesce("lot__earned_at", "created_at", output_field=DateTimeField())
    ).filter(at__gte=start_at)
    # Answers and ledger entries name at most one partner each: one query per source,
    # grouped by partner, gives the partner rows and (summed) the all-partners rows.
    for source, aggregates in (
        (answered, _RESPONSE_COUNTS),
        (dismissed, {"dismissed": Count("pk")}),
    ):
        rows.add(
            _grouped(
                source,
                time="submitted_at",
                program="program_id",
                tier="tier_id",
                partner="partner_id",
                aggregates=aggregates,
            ),
            month_field="month",
            partner_field="partner_id",
            with_total=True,
        )
    rows.add(
        _grouped(
            entries,
            time="at",
            program="membership__program_id",
            tier="membership__tier_id",
            partner="actor_partner_id",
            aggregates=_LEDGER_SUMS,
        ),
        month_field="month",
        partner_field="actor_partner_id",
        with_total=True,
    )
    # A customer can be linked to several partners: members are counted per partner and
    # for all partners separately.
    for partner in (None, "customer__partner_links__partner_id"):
        rows.add(
            _grouped(
                Membership.objects.all(),
                time=None,
                program="program_id",
                tier="tier_id",
                partner=partner,
                aggregates=_member_counts(now),
            ),
            month_field=None,
            partner_field=partner,
            month=current,
        )

    for partner in (None, "customer__partner_links__partner_id"):
        rows.add(
            _grouped(
                Membership.objects.filter(engagement__isnull=False),
                time=None,
                program="program_id",
                tier="tier_id",
                partner=partner,
                aggregates=_engagement_counts(),
            ),
            month_field=None,
            partner_field=partner,
            month=current,
        )

    MetricSnapshot.objects.filter(period__gte=start).delete()
    MetricSnapshot.objects.bulk_create(
        (
            MetricSnapshot(
                period=month,
                program_id=program,
                tier_id=tier,
                partner_id=partner,
                computed_at=now,
                **counts,
            )
            for (month, program, tier, partner), counts in rows.rows.items()
        ),
        batch_size=1000,
    )
    cohorts_build(now=now)
    return len(rows.rows)


def _member_counts(now: datetime) -> dict:
    active_since = now - timedelta(days=ACTIVE_WITHIN_DAYS)
    dormant_before = now - timedelta(days=DORMANT_AFTER_DAYS)
    return {
        "members": Count("pk"),
        "members_active": Count("pk", filter=Q(last_activity_at__gte=active_since)),
        "members_at_risk": Count(
            "pk",
            filter=Q(last_activity_at__lt=active_since, last_activity_at__gte=dormant_before),
        ),
        "members_dormant": Count(
            "pk", filter=Q(last_activity_at__lt=dormant_before) | Q(last_activity_at__isnull=True)
        ),
        "points_outstanding": Coalesce(Sum("balance"), 0),
    }


ENGAGEMENT_BANDS = ((0, 20), (20, 40), (40, 60), (60, 80), (80, 101))


def _engagement_counts() -> dict:
    return {
        f"engagement_{i}": Count(
            "pk", filter=Q(engagement__score__gte=low, engagement__score__lt=high)
        )
        for i, (low, high) in enumerate(ENGAGEMENT_BANDS)
    }


def cohorts_build(*, now: datetime | None = None) -> int:
    """Repurchase cohorts: members by the month of their first purchase in the program,
    and how many bought again within each window.

    One row per member: their first purchase (earliest, then lowest id; no earlier one
    exists), and one correlated subquery for the next purchase after it, which yields the
    smallest window it falls in (the member's "bucket"). Grouped in the database by cohort,
    program, tier and bucket; the counts per window are then sums over the buckets, as
    every purchase within 30 days is also within 90 days and so on."""
    now = now or timezone.now()
    live = Purchase.objects.exclude(status=PurchaseStatus.REJECTED)
    earlier = live.filter(membership=OuterRef("membership")).filter(
        Q(occurred_at__lt=OuterRef("occurred_at"))
        | Q(occurred_at=OuterRef("occurred_at"), pk__lt=OuterRef("pk"))
    )
    first_at = OuterRef("occurred_at")
    smallest_window = Case(
        *(
            When(
                occurred_at__lte=ExpressionWrapper(
                    first_at + timedelta(days=days), output_field=DateTimeField()
                ),
                then=Value(days),
            )
            for days in REPURCHASE_WINDOWS
        ),
        default=None,
        output_field=IntegerField(),
    )
    bucket = Subquery(
        live.filter(membership=OuterRef("membership"), occurred_at__gt=first_at)
        .order_by("occurred_at")
        .annotate(bucket=smallest_window)
        .values("bucket")[:1]
    )
    grouped = (
        live.filter(~Exists(earlier))
        .values(
            g_cohort=TruncMonth("occurred_at"),
            g_program=F("membership__program_id"),
            g_tier=F("membership__tier_id"),
            g_bucket=bucket,
        )
        .annotate(n=Count("pk"))
        .order_by()
    )
    counts: dict[tuple, dict[str, int]] = defaultdict(
        lambda: dict.fromkeys(["customers", *(f"within_{d}" for d in REPURCHASE_WINDOWS)], 0)
    )
    for row in grouped:
        key = (_as_date(row["g_cohort"]), row["g_program"], row["g_tier"])
        counts[key]["customers"] += row["n"]
        for days in REPURCHASE_WINDOWS:
            if row["g_bucket"] is not None and row["g_bucket"] <= days:
                counts[key][f"within_{days}"] += row["n"]
    snapshots = [
        CohortSnapshot(
            cohort=cohort, program_id=program, tier_id=tier, computed_at=now, **row_counts
        )
        for (cohort, program, tier), row_counts in counts.items()
    ]
    CohortSnapshot.objects.all().delete()
    CohortSnapshot.objects.bulk_create(snapshots, batch_size=1000)
    return len(snapshots)
