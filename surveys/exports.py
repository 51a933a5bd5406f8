"""CSV exports for staff (responses, dashboard charts), streamed row by row."""

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse


class _Echo:
    def write(self, value):
        return value


def csv_response(
    filename: str, header: list[str], rows: Iterable[Iterable]
) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff"  # Excel opens UTF-8 with umlauts correctly with a BOM
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


RESPONSE_HEADER = [
    "response_id",
    "submitted_at",
    "status",
    "survey",
    "kind",
    "program",
    "tier",
    "partner",
    "channel",
    "customer_id",
    "language",
    "score",
    "cli_total",
    "comment",
]


def response_rows(responses) -> Iterable[list]:
    """One CSV row per response; ``responses`` is already scoped and filtered."""
    rows = responses.select_related(
        "survey", "program", "tier", "partner", "invitation", "membership"
    ).order_by("submitted_at", "pk")
    for r in rows.iterator(chunk_size=2000):
        yield [
            r.pk,
            r.submitted_at.isoformat(),
            r.status,
            r.survey.name,
            r.kind,
            r.program.slug,
            r.tier.name if r.tier else "",
            r.partner.slug if r.partner else "",
            r.invitation.channel,
            r.membership.customer_id,
            r.invitation.language,
            "" if r.score is None else r.score,
            "" if r.cli_total is None else r.cli_total,
            r.comment,
        ]
