"""Survey answers counted by the counting rule: one answer per member, kind and span,
the member's latest answer that has a score (a skipped main question has none). A
member who answered the NPS survey three times in a quarter counts once, with the last
answer, in that quarter's NPS; in each month, with that month's last answer."""

from django.db import connection

from surveys.figures.scope import SCOPE_TABLE, scope_params
from surveys.figures.spans import SPAN_TABLE, Span, span_params
from surveys.models import Response, ResponseStatus

RESPONSES = Response._meta.db_table

ANSWER_FIELDS = (
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
)

_ANSWERS_SQL = f"""
WITH {SPAN_TABLE}, {SCOPE_TABLE},
latest AS (
    SELECT DISTINCT ON (s.i, r.membership_id, r.kind)
        s.i, r.membership_id, r.program_id, r.tier_id, r.kind, r.score, r.cli_total
    FROM {RESPONSES} r
    JOIN span s ON r.submitted_at >= s.start_at AND r.submitted_at < s.end_at
    WHERE r.status = %(answered)s
      AND CASE WHEN r.kind = 'cli' THEN r.cli_total IS NOT NULL ELSE r.score IS NOT NULL END
      AND (%(program)s::bigint IS NULL OR r.program_id = %(program)s::bigint)
    ORDER BY s.i, r.membership_id, r.kind, r.submitted_at DESC, r.id DESC
)
SELECT l.i, l.program_id, l.tier_id, sc.partner_id,
    count(*) FILTER (WHERE l.kind = 'nps' AND l.score >= 9),
    count(*) FILTER (WHERE l.kind = 'nps' AND l.score BETWEEN 7 AND 8),
    count(*) FILTER (WHERE l.kind = 'nps' AND l.score <= 6),
    count(*) FILTER (WHERE l.kind = 'csat'),
    count(*) FILTER (WHERE l.kind = 'csat' AND l.score >= 4),
    count(*) FILTER (WHERE l.kind = 'ces'),
    coalesce(sum(l.score) FILTER (WHERE l.kind = 'ces'), 0),
    count(*) FILTER (WHERE l.kind = 'ces' AND l.score >= 5),
    count(*) FILTER (WHERE l.kind = 'cli'),
    coalesce(sum(l.cli_total) FILTER (WHERE l.kind = 'cli'), 0)
FROM latest l
JOIN scope sc ON sc.membership_id = l.membership_id
GROUP BY 1, 2, 3, 4
"""  # noqa: S608 - table names from the models

_DISMISSED_SQL = f"""
WITH {SPAN_TABLE}, {SCOPE_TABLE}
SELECT s.i, r.program_id, r.tier_id, sc.partner_id, count(*)
FROM {RESPONSES} r
JOIN span s ON r.submitted_at >= s.start_at AND r.submitted_at < s.end_at
JOIN scope sc ON sc.membership_id = r.membership_id
WHERE r.status = %(dismissed)s
GROUP BY 1, 2, 3, 4
"""  # noqa: S608 - table names from the models


def _rows(sql: str, params: dict, spans: list[Span], fields: tuple[str, ...]) -> list[dict]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    return [
        {
            "span": spans[i - 1],
            "program": program,
            "tier": tier,
            "partner": partner,
            **dict(zip(fields, counts, strict=True)),
        }
        for i, program, tier, partner, *counts in found
    ]


def answer_counts(
    spans: list[Span],
    *,
    everyone: bool = True,
    partner_id: int | None = None,
    program_id: int | None = None,
) -> list[dict]:
    """Per span, program, tier (the member's tier when answering) and partner (None: all
    members): the answer counts of ``ANSWER_FIELDS``. ``everyone`` False leaves out the
    all-members rows; ``partner_id`` keeps one partner's rows only; ``program_id`` one
    program's answers."""
    params = {
        **span_params(spans),
        **scope_params(everyone=everyone, partner_id=partner_id),
        "answered": ResponseStatus.ANSWERED,
        "program": program_id,
    }
    return _rows(_ANSWERS_SQL, params, spans, ANSWER_FIELDS)


def dismissed_counts(spans: list[Span]) -> list[dict]:
    """Declined invitations per span, program, tier and partner (every one counts)."""
    params = {
        **span_params(spans),
        **scope_params(),
        "dismissed": ResponseStatus.DISMISSED,
    }
    return _rows(_DISMISSED_SQL, params, spans, ("dismissed",))
