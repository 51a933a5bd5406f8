"""The staff admin's site: German titles and a home page that starts with the day's work
(what waits for staff, each linking to its filtered list) and the programs' key figures.
Installed as the default admin site by ``loyalty_site.admin_config.StaffAdminConfig`` (settings:
INSTALLED_APPS), so every app's ``@admin.register`` lands here.

It also guards the staff: no admin page without the second factor a staff member owes
(``loyalty_site.staff.second_factor``, whose pages it serves), and every admin it registers
writes the audit log (``loyalty_site.staff.audit``), with one audit scope per request."""

from functools import update_wrapper

from django.contrib import admin
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from loyalty_site.core.audit import audit_scope
from loyalty_site.staff.audit import audited
from loyalty_site.staff.second_factor import second_factor_due
from loyalty_site.staff.second_factor_views import second_factor_urls
from programs.staff_overview import programs_key_figures, work_waiting


def _changelist(name: str, **filters) -> str:
    url = reverse(f"admin:{name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def work_items(user) -> list[dict]:
    """Each kind of waiting work ``user`` may look at: label, count and the list that shows
    exactly those rows."""
    waiting = work_waiting()
    items = [
        {
            "label": _("Referrals waiting for review"),
            "count": waiting.referrals_in_review,
            "url": _changelist("programs_referral", status="review"),
            "permission": "programs.view_referral",
        },
        {
            "label": _("Points transfers waiting for review"),
            "count": waiting.transfers_in_review,
            "url": _changelist("programs_transfer", status__exact="review"),
            "permission": "programs.view_transfer",
        },
        {
            "label": _("Deletion requests to carry out"),
            "count": waiting.deletion_requests,
            "url": _changelist(
                "customers_customer",
                deletion_requested_at__isnull="False",
                anonymized_at__isnull="True",
            ),
            "permission": "customers.view_customer",
        },
        {
            "label": _("Failed webhook deliveries"),
            "count": waiting.failed_webhook_deliveries,
            "url": _changelist("programs_webhookdelivery", state__exact="failed"),
            "permission": "programs.view_webhookdelivery",
        },
        {
            "label": _("Failed purchases (points not awarded)"),
            "count": waiting.failed_purchases,
            "url": _changelist("programs_purchase", status__exact="failed"),
            "permission": "programs.view_purchase",
        },
    ]
    return [item for item in items if user.has_perm(item["permission"])]


class StaffAdminSite(admin.AdminSite):
    site_title = _("Loyalty administration")
    site_header = _("Loyalty administration")
    index_title = _("Today")
    empty_value_display = "\N{EN DASH}"

    def register(self, model_or_iterable, admin_class=None, **options):
        super().register(model_or_iterable, audited(admin_class or admin.ModelAdmin), **options)

    def has_permission(self, request):
        return super().has_permission(request) and second_factor_due(request) is None

    def admin_view(self, view, cacheable=False):
        def in_audit_scope(request, *args, **kwargs):
            with audit_scope():
                return view(request, *args, **kwargs)

        return super().admin_view(update_wrapper(in_audit_scope, view), cacheable)

    def get_urls(self):
        return [*second_factor_urls(self), *super().get_urls()]

    def index(self, request, extra_context=None):
        may_see_programs = request.user.has_perm("programs.view_program")
        context = {
            "work_items": work_items(request.user),
            "program_figures": programs_key_figures() if may_see_programs else [],
            **(extra_context or {}),
        }
        return super().index(request, extra_context=context)
