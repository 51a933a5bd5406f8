"""What every staff export of the admin does alike: the file in the format chosen (CSV
streamed, Excel written row by row, ``loyalty_site.core.downloads``), Excel only up to a
number of rows it can build before the server's timeout (the CSV streams any number), and
a row in the staff audit log saying who exported which personal data."""

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpResponseRedirect
from django.utils.translation import gettext as _

from loyalty_site.core.audit import audit_record
from loyalty_site.core.downloads import csv_response, xlsx_response

FILE_FORMATS = {"csv": "CSV", "xlsx": "Excel"}
# The Excel file is complete before its first byte is sent, and openpyxl writes a few
# thousand rows a second (bench/export_memory.py): 50,000 rows stay well within the web
# server's 30-second timeout (deploy/gunicorn.conf.py).
XLSX_MAX_ROWS = 50_000


def xlsx_too_long(queryset: QuerySet) -> bool:
    """Whether ``queryset`` has more rows than an Excel export may hold (counted up to
    one more than the limit, not all)."""
    return queryset.order_by()[: XLSX_MAX_ROWS + 1].count() > XLSX_MAX_ROWS


def xlsx_refused(model_admin, request, back_url: str) -> HttpResponseRedirect:
    model_admin.message_user(
        request,
        _("More than %(max)s rows: Excel cannot hold them here, use the CSV file.")
        % {"max": f"{XLSX_MAX_ROWS:,}".replace(",", ".")},
        messages.ERROR,
    )
    return HttpResponseRedirect(back_url)


def export_response(file_format: str, filename: str, header: list[str], rows, *, sheet_title):
    if file_format == "csv":
        return csv_response(filename, header, rows)
    return xlsx_response(filename, header, rows, sheet_title=sheet_title)


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
