"""The nightly snapshots: every figure's counts per month (``MetricSnapshot``), per
quarter and per dashboard window (``SpanSnapshot``) and per cohort, for each program,
tier and partner, computed with a handful of set-based queries (``surveys.figures``; no
per-customer Python loops). The dashboard reads only these rows."""

from collections import defaultdict
from datetime import date, datetime

from celery import current_app
from dateutil.relativedelta import relativedelta
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from loyalty_site.core.commit import run_after_commit
from programs.models import LedgerEntry, Program, Purchase
from surveys.figures.answers import ANSWER_FIELDS, answer_counts, dismissed_counts
from surveys.figures.buyers import WINDOW_FIELDS, window_counts
from surveys.figures.cohorts import cohort_counts
from surveys.figures.points import ENGAGEMENT_BANDS as ENGAGEMENT_BANDS  # read by the admin
from surveys.figures.points import member_stocks, point_flows
from surveys.figures.retention import RETENTION_FIELDS, retention_counts
from surveys.figures.spans import (
    WINDOW_MONTHS,
    local_midnight,
    month_spans,
    month_start,
    quarter_spans,
    quarter_start,
    window_span,
)
from surveys.models import CohortSnapshot, MetricSnapshot, Response, SpanKind, SpanSnapshot

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


def snapshots_build(*, months: int | None = 2, now: datetime | None = None) -> int:
    """Rebuild the snapshots of the last ``months`` months (all history if None, or if
    there are no snapshots yet), their quarters, the dashboard windows and all cohorts.
    Replaces the rows it recomputes in one transaction (readers see the old or the new
    numbers, never a mix); programs are locked so two runs queue up. Returns the number
    of monthly snapshot rows written."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:  # SET LOCAL ends with this transaction; never with a caller's
            with connection.cursor() as cursor:
                # The grouped joins give huge cost estimates, which turn on JIT
                # compilation; compiling took about as long as running them. Grouping
                # purchase lines by member and product hashes in memory with room.
                cursor.execute("SET LOCAL jit = off")
                cursor.execute("SET LOCAL work_mem = '64MB'")
        return _build(months=months, now=now or timezone.now())


def _first_month(months: int | None, now: datetime) -> date:
    current = month_start(now)
    if months is not None and MetricSnapshot.objects.exists():
        return current - relativedelta(months=months - 1)
    firsts = [
        Response.objects.aggregate(first=Min("submitted_at"))["first"],
        LedgerEntry.objects.aggregate(first=Min("effective_at"))["first"],
        Purchase.objects.aggregate(first=Min("occurred_at"))["first"],
    ]
    return min((month_start(f) for f in firsts if f), default=current)


def _build(*, months: int | None, now: datetime) -> int:
    list(Program.objects.select_for_update().order_by("pk").values_list("pk", flat=True))
    start = _first_month(months, now)
    spans = {
        SpanKind.QUARTER: quarter_spans(start, now),
        SpanKind.WINDOW: [window_span(m, now) for m in WINDOW_MONTHS],
    }
    months_of = month_spans(start, now)
    every = months_of + spans[SpanKind.QUARTER] + spans[SpanKind.WINDOW]
    kind_of = {id(s): kind for kind, found in spans.items() for s in found}

    monthly: dict[tuple, dict] = defaultdict(dict)
    spanned: dict[tuple, dict] = defaultdict(dict)

    def add(rows: list[dict], fields: tuple[str, ...], month_fields: tuple[str, ...]) -> None:
        for row in rows:
            span, group = row["span"], (row["program"], row["tier"], row["partner"])
            kind = kind_of.get(id(span))
            if kind is None:  # a month
                target, names = monthly[(span.first, *group)], month_fields
            else:
                target, names = spanned[(kind, span.first, span.months, *group)], fields
            for name in names:
                target[name] = target.get(name, 0) + row[name]

    add(answer_counts(every), ANSWER_FIELDS, ANSWER_FIELDS)
    add(retention_counts(months_of + spans[SpanKind.QUARTER]), RETENTION_FIELDS, RETENTION_FIELDS)
    add(window_counts(spans[SpanKind.WINDOW]), WINDOW_FIELDS, ())
    add(dismissed_counts(months_of), (), ("dismissed",))
    for row in point_flows(since=local_midnight(start)):
        monthly[(row.pop("month"), row.pop("program"), row.pop("tier"), row.pop("partner"))].update(
            row
        )
    current = month_start(now)
    for row in member_stocks(now=now):
        monthly[(current, row.pop("program"), row.pop("tier"), row.pop("partner"))].update(row)

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
            for (month, program, tier, partner), counts in monthly.items()
        ),
        batch_size=1000,
    )
    SpanSnapshot.objects.filter(span=SpanKind.QUARTER, start__gte=quarter_start(start)).delete()
    SpanSnapshot.objects.filter(span=SpanKind.WINDOW).delete()
    SpanSnapshot.objects.bulk_create(
        (
            SpanSnapshot(
                span=kind,
                start=first,
                months=length,
                program_id=program,
                tier_id=tier,
                partner_id=partner,
                computed_at=now,
                **counts,
            )
            for (kind, first, length, program, tier, partner), counts in spanned.items()
        ),
        batch_size=1000,
    )
    cohorts_build(now=now)
    return len(monthly)


def cohorts_build(*, now: datetime | None = None) -> int:
    """Repurchase cohorts of all history (``surveys.figures.cohorts``), replacing the
    previous ones."""
    now = now or timezone.now()
    snapshots = [
        CohortSnapshot(
            cohort=row.pop("cohort"),
            program_id=row.pop("program"),
            tier_id=row.pop("tier"),
            partner_id=row.pop("partner"),
            computed_at=now,
            **row,
        )
        for row in cohort_counts()
    ]
    CohortSnapshot.objects.all().delete()
    CohortSnapshot.objects.bulk_create(snapshots, batch_size=1000)
    return len(snapshots)
