"""What every staff export of the admin does alike: the file in the format chosen (CSV
streamed, Excel written row by row, ``loyalty_site.core.downloads``), a row in the staff
audit log saying who exported which personal data, and files too long to write while
staff wait (more rows than the format's cap, ``export_rows_beyond_cap``) handed to a
worker (``programs.admin.export_jobs``): the staff member gets the job's page, which
shows the progress and then the download.

Each export builds one ``ExportFile`` (header, row generator, file name, sheet) from
what it exports; the direct download and the background job write that same object."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from loyalty_site.core.audit import audit_record
from loyalty_site.core.commit import enqueue_after_commit
from loyalty_site.core.downloads import csv_response, xlsx_response
from programs.models import ExportFormat, ExportJob

FILE_FORMATS = {"csv": "CSV", "xlsx": "Excel"}
# The Excel file is complete before its first byte is sent, and openpyxl writes a few
# thousand rows a second (bench/export_memory.py): 50,000 rows stay well within the web
# server's 30-second timeout (deploy/gunicorn.conf.py). Longer files are written by a
# worker (``export_in_background``).
XLSX_MAX_ROWS = 50_000
# The web server ends every request after 30 seconds, a streamed one too: the download
# would stop midway (and the browser may not say so). A million members or ledger entries
# take about 30 seconds as CSV; 200,000 rows leave a wide margin.
CSV_MAX_ROWS = 200_000
EXPORT_TASK = "programs.tasks.export_job_task"


@dataclass(frozen=True)
class ExportFile:
    """One export: ``counted`` is the queryset whose rows ``rows`` yields (counted, never
    read, to decide where the file is written)."""

    counted: QuerySet
    header: list[str]
    rows: Iterable
    filename: str
    sheet_title: str


def export_rows_count(export: ExportFile) -> int:
    return export.counted.order_by().count()


def export_rows_cap(file_format: str) -> int:
    """The most rows a file of ``file_format`` is written with while staff wait."""
    return CSV_MAX_ROWS if file_format == ExportFormat.CSV else XLSX_MAX_ROWS


def export_rows_beyond_cap(export: ExportFile, file_format: str) -> int | None:
    """The rows of ``export`` (counted once) if they are more than ``file_format``'s cap:
    a worker writes the file; None if it is written in the request."""
    total = export_rows_count(export)
    return total if total > export_rows_cap(file_format) else None


def export_response(file_format: str, export: ExportFile):
    if file_format == "csv":
        return csv_response(export.filename, export.header, export.rows)
    return xlsx_response(
        export.filename, export.header, export.rows, sheet_title=export.sheet_title
    )


def export_answer(request, file_format: str, export: ExportFile, *, kind: str, params: dict):
    """The download, or for a file of more rows than its format's cap (``XLSX_MAX_ROWS``,
    ``CSV_MAX_ROWS``) a job a worker writes (``kind`` and ``params`` say how the worker
    builds ``export`` again) and a redirect to its page."""
    total = export_rows_beyond_cap(export, file_format)
    if total is not None:
        return export_in_background(
            request,
            kind=kind,
            params=params,
            file_format=file_format,
            filename=export.filename,
            total=total,
        )
    return export_response(file_format, export)


def export_in_background(
    request, *, kind: str, params: dict, file_format: str, filename: str, total: int
):
    job = ExportJob.objects.create(
        kind=kind,
        params=params,
        file_format=file_format,
        user=request.user,
        language=translation.get_language() or "de",
        rows_total=total,
        file_name=filename,
    )
    enqueue_after_commit(EXPORT_TASK, job.pk)
    messages.info(
        request,
        _(
            "%(rows)s rows are too many to write the %(format)s file while you wait: it is "
            "written in the background. This page shows the progress and then the download."
        )
        % {"rows": f"{total:,}".replace(",", "."), "format": FILE_FORMATS[file_format]},
    )
    return HttpResponseRedirect(reverse("admin:programs_exportjob_change", args=[job.pk]))


def export_logged(
    request,
    *,
    action: str,
    description: str,
    file_format: str,
    model: str,
    object_id="",
    what: str = "",
    customer_id: int | None = None,
) -> None:
    """One audit row: ``request.user`` exported ``what`` (a record, a filter, a period)
    as ``file_format``; the row's action is ``action``, shown as ``description``."""
    audit_record(
        user=request.user,
        action=action,
        model=model,
        object_id=object_id,
        object_repr=what,
        note=f"{description} ({FILE_FORMATS[file_format]})",
        customer_id=customer_id,
    )
