"""Spans of time the figures are counted over: months, quarters and the dashboard's
window of the last N months. A span's counts compare it with the span of the same
length just before it (the retention rate's "customers at the start")."""

from dataclasses import dataclass
from datetime import date, datetime, time

from dateutil.relativedelta import relativedelta
from django.utils import timezone

WINDOW_MONTHS = (6, 12, 18, 24, 36)
"""The dashboard's choices of "months back"; the snapshots hold a window for each."""
DEFAULT_WINDOW_MONTHS = 18


@dataclass(frozen=True)
class Span:
    """[start_at, end_at), with ``before_at`` the start of the span of the same length
    before it. ``first`` is the first day of the first month, ``months`` its length."""

    first: date
    months: int
    start_at: datetime
    end_at: datetime
    before_at: datetime


def local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def month_start(at: datetime | date) -> date:
    local = timezone.localtime(at) if isinstance(at, datetime) else at
    return date(local.year, local.month, 1)


def quarter_start(day: date) -> date:
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def calendar_span(first: date, months: int, now: datetime) -> Span:
    """``months`` calendar months from ``first``; a span that has not ended yet ends now."""
    end_at = local_midnight(first + relativedelta(months=months))
    return Span(
        first=first,
        months=months,
        start_at=local_midnight(first),
        end_at=min(end_at, now),
        before_at=local_midnight(first - relativedelta(months=months)),
    )


def window_first_month(months: int, today: date) -> date:
    """The first month of the window of the last ``months`` months (the current month is
    the last of them)."""
    return date(today.year, today.month, 1) - relativedelta(months=months - 1)


def window_span(months: int, now: datetime) -> Span:
    """The last ``months`` months up to ``now``: from the first day of the month
    ``months - 1`` months ago. Before it: the ``months`` months before that day."""
    first = window_first_month(months, timezone.localdate(now))
    return Span(
        first=first,
        months=months,
        start_at=local_midnight(first),
        end_at=now,
        before_at=local_midnight(first - relativedelta(months=months)),
    )


def month_spans(first: date, now: datetime) -> list[Span]:
    spans, month = [], first
    while month <= month_start(now):
        spans.append(calendar_span(month, 1, now))
        month += relativedelta(months=1)
    return spans


def quarter_spans(first: date, now: datetime) -> list[Span]:
    spans, quarter = [], quarter_start(first)
    while quarter <= month_start(now):
        spans.append(calendar_span(quarter, 3, now))
        quarter += relativedelta(months=3)
    return spans


def span_params(spans: list[Span]) -> dict:
    """The spans as arrays for ``SPAN_TABLE``: row ``i`` (from 1) is ``spans[i - 1]``."""
    return {
        "span_before": [s.before_at for s in spans],
        "span_start": [s.start_at for s in spans],
        "span_end": [s.end_at for s in spans],
    }


SPAN_TABLE = """span AS (
    SELECT * FROM unnest(
        %(span_before)s::timestamptz[], %(span_start)s::timestamptz[], %(span_end)s::timestamptz[]
    ) WITH ORDINALITY AS s(before_at, start_at, end_at, i)
)"""
