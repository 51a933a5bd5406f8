"""The staff admin's site: German titles and a home page that starts with the day's work
(what waits for staff, each linking to its filtered list) and the programs' key figures.
Installed as the default admin site by ``loyalty_site.admin_config.StaffAdminConfig`` (settings:
INSTALLED_APPS), so every app's ``@admin.register`` lands here."""

from django.contrib import admin
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from programs.staff_overview import programs_key_figures, work_waiting


def _changelist(name: str, **filters) -> str:
    url = reverse(f"admin:{name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def work_items() -> list[dict]:
    """Each kind of waiting work: label, count and the list that shows exactly those rows."""
    waiting = work_waiting()
    return [
        {
            "label": _("Referrals waiting for review"),
            "count": waiting.referrals_in_review,
            "url": _changelist("programs_referral", status="review"),
        },
        {
            "label": _("Deletion requests to carry out"),
            "count": waiting.deletion_requests,
            "url": _changelist(
                "customers_customer",
                deletion_requested_at__isnull="False",
                anonymized_at__isnull="True",
            ),
        },
        {
            "label": _("Failed webhook deliveries"),
            "count": waiting.failed_webhook_deliveries,
            "url": _changelist("programs_webhookdelivery", state__exact="failed"),
        },
        {
            "label": _("Failed purchases (points not awarded)"),
            "count": waiting.failed_purchases,
            "url": _changelist("programs_purchase", status__exact="failed"),
        },
    ]


class StaffAdminSite(admin.AdminSite):
    site_title = _("Loyalty administration")
    site_header = _("Loyalty administration")
    index_title = _("Today")
    empty_value_display = "\N{EN DASH}"

    def index(self, request, extra_context=None):
        context = {
            "work_items": work_items(),
            "program_figures": programs_key_figures(),
            **(extra_context or {}),
        }
        return super().index(request, extra_context=context)
