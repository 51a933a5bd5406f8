"""The retention report ("Aufbewahrung"): the customers the nightly job will anonymise in
the next 30 days if they stay inactive (``programs.services.retention``), with their last
activity and unspent points; as a page or as CSV. For staff who may change customers."""

import csv

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from programs.services.retention import (
    REPORT_DAYS,
    inactive_years,
    notice_days,
    retention_report,
)

TEMPLATE = "admin/customers/customer/retention.html"


def retention_report_view(model_admin, request):
    if not model_admin.has_change_permission(request):
        raise PermissionDenied
    rows = retention_report(days=REPORT_DAYS)
    if request.GET.get("format") == "csv":
        return _csv(rows)
    request.current_app = model_admin.admin_site.name
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": _("Retention: customers to be anonymised in the next %(days)s days")
        % {"days": REPORT_DAYS},
        "rows": rows,
        "count": len(rows),
        "years": inactive_years(),
        "notice_days": notice_days(),
    }
    return TemplateResponse(request, TEMPLATE, context)


def _csv(rows) -> HttpResponse:
    day = timezone.localdate().isoformat()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="retention-{day}.csv"'
    writer = csv.writer(response)
    writer.writerow(["customer_id", "email", "last_activity", "points", "anonymised_on"])
    for row in rows:
        writer.writerow(
            [
                row.customer.pk,
                row.customer.email,
                timezone.localtime(row.last_activity).isoformat(),
                row.points,
                row.delete_on.isoformat(),
            ]
        )
    return response
