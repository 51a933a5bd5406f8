"""Purchases: staff enter one through ``purchase_record`` (the worker awards its points after
commit); a recorded purchase is read-only, and a return goes through ``purchase_refund``.
A purchase whose award failed shows why; "retry" puts it back (``purchases_retry``)."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import path
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from programs.admin.base import (
    EMPTY,
    ReadOnlyInline,
    ServiceWrittenAdmin,
    add_domain_error,
    render_form_page,
)
from programs.admin.forms import PurchaseEntryForm, RefundForm, reference_new
from programs.admin.ledger import LedgerReasonDisplay
from programs.admin.wording import reason_text
from programs.errors import LoyaltyError
from programs.models import Campaign, LedgerEntry, Purchase, PurchaseLine, PurchaseStatus, Refund
from programs.services.ledger import Actor
from programs.services.purchase_failures import purchases_retry
from programs.services.purchase_refunds import purchase_refund
from programs.services.purchases import purchase_record

# Domain errors that name no field, shown on the field they are about.
PURCHASE_ERROR_FIELDS = {"program_mismatch": "partner", "membership_inactive": "membership"}


class PurchaseLineInline(ReadOnlyInline):
    model = PurchaseLine
    fields = (
        "line_no",
        "sku",
        "category",
        "quantity",
        "unit_price",
        "amount",
        "refunded_quantity",
        "points",
    )
    readonly_fields = fields


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = ("refund_id", "amount", "lines", "points_reversed", "created_at")
    readonly_fields = fields


class PurchaseLedgerInline(LedgerReasonDisplay, ReadOnlyInline):
    model = LedgerEntry
    fk_name = "purchase"
    verbose_name_plural = _("ledger entries")
    fields = ("created_at", "kind", "points", "pending_points", "balance_after", "reason_shown")
    readonly_fields = fields


@admin.register(Purchase)
class PurchaseAdmin(ServiceWrittenAdmin):
    allow_add = True
    list_display = (
        "order_id",
        "membership",
        "partner",
        "amount",
        "currency",
        "occurred_at",
        "status",
        "points_awarded",
        "refunded_amount",
        "failure_reason_shown",
    )
    list_select_related = ("membership__customer", "membership__program", "partner")
    list_filter = ("status", "program", "partner")
    search_fields = ("=order_id", "membership__customer__email")
    search_help_text = _("Exact order id, or the member's e-mail.")
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    actions = ["retry_awards"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "order_id",
                    "membership",
                    "program",
                    "partner",
                    "amount",
                    "currency",
                    "occurred_at",
                )
            },
        ),
        (
            _("Points"),
            {
                "fields": (
                    "status",
                    "status_reason_shown",
                    "failure_reason_shown",
                    "points_expected",
                    "points_awarded",
                    "breakdown_table",
                    "received_at",
                    "processed_at",
                )
            },
        ),
        (_("Returns"), {"fields": ("refunded_amount", "points_reversed")}),
        (
            _("Fraud signals"),
            {
                "classes": ("collapse",),
                "fields": ("payment_fingerprint", "device_id", "ip_address"),
            },
        ),
    )
    readonly_fields = (
        "order_id",
        "membership",
        "program",
        "partner",
        "amount",
        "currency",
        "occurred_at",
        "status",
        "status_reason_shown",
        "failure_reason_shown",
        "points_expected",
        "points_awarded",
        "breakdown_table",
        "received_at",
        "processed_at",
        "refunded_amount",
        "points_reversed",
        "payment_fingerprint",
        "device_id",
        "ip_address",
    )
    inlines = [PurchaseLineInline, RefundInline, PurchaseLedgerInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("membership__customer", "membership__program", "program", "partner")
        )

    @admin.display(description=_("status reason"))
    def status_reason_shown(self, obj):
        return reason_text(obj.status_reason) or EMPTY

    @admin.display(description=_("failure reason"))
    def failure_reason_shown(self, obj):
        return reason_text(obj.failure_reason) or EMPTY

    @admin.display(description=_("points breakdown"))
    def breakdown_table(self, obj):
        breakdown = obj.breakdown or {}
        if not breakdown:
            return EMPTY
        bonuses = breakdown.get("campaign_points", {})
        names = dict(
            Campaign.objects.filter(pk__in=[int(pk) for pk in bonuses]).values_list("pk", "name")
        )
        rows = [(_("Base points"), breakdown.get("base_points", 0))]
        rows += [
            (_("Bonus: %(campaign)s") % {"campaign": names.get(int(pk), pk)}, points)
            for pk, points in bonuses.items()
        ]
        rows.append((_("Total"), breakdown.get("total", 0)))
        if breakdown.get("below_minimum"):
            rows.append((_("Below the program's minimum purchase amount"), 0))
        return format_html(
            "<table>{}</table>", format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        )

    @admin.action(
        description=_("Award the selected failed purchases again"), permissions=["operate"]
    )
    def retry_awards(self, request, queryset):
        ids = purchases_retry(purchase_ids=queryset.values_list("pk", flat=True))
        for purchase in Purchase.objects.filter(pk__in=ids):
            self.log_change(request, purchase, _("Award retried."))
        if ids:
            self.message_user(
                request,
                _("%(count)s failed purchases put back; their points are being awarded.")
                % {"count": len(ids)},
                messages.SUCCESS,
            )
        if skipped := queryset.exclude(pk__in=ids).count():
            self.message_user(
                request,
                _("%(count)s selected purchases had not failed; they were left alone.")
                % {"count": skipped},
                messages.WARNING,
            )

    def object_tools(self, request, obj):
        if not self.has_operate_permission(request):
            return []
        if obj.status == PurchaseStatus.REJECTED or obj.refunded_amount >= obj.amount:
            return []
        return [(_("Refund"), self.admin_url("refund", obj.pk))]

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/refund/",
                self.admin_site.admin_view(self.refund_view),
                name=f"{info}_refund",
            ),
            *super().get_urls(),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PurchaseEntryForm(
            request.POST if request.method == "POST" else None, admin_site=self.admin_site
        )
        if form.is_valid():
            data = form.cleaned_data
            try:
                purchase, created = purchase_record(
                    partner=data["partner"],
                    membership=data["membership"],
                    order_id=data["order_id"],
                    amount=data["amount"],
                    currency=data["currency"],
                    occurred_at=data["occurred_at"],
                    lines=data["lines"],
                    award_now=False,
                )
            except LoyaltyError as error:
                add_domain_error(form, error, fields_by_code=PURCHASE_ERROR_FIELDS)
            else:
                if created:
                    self.log_addition(request, purchase, [{"added": {}}])
                    self.message_user(
                        request,
                        _("Purchase recorded; its points are being awarded."),
                        messages.SUCCESS,
                    )
                else:
                    self.message_user(
                        request,
                        _("This order was already recorded; nothing was added."),
                        messages.WARNING,
                    )
                return redirect(self.admin_url("change", purchase.pk))
        return render_form_page(
            self,
            request,
            form=form,
            title=_("Enter a purchase"),
            submit_label=_("Record purchase"),
            intro=_(
                "The purchase earns points by its program's rules, like one sent by the "
                "partner; they stay pending for the program's return window."
            ),
        )

    def refund_view(self, request, object_id):
        purchase = self.operated_object(request, object_id)
        if request.method == "POST":
            form = RefundForm(request.POST)
        else:
            form = RefundForm(initial={"refund_id": reference_new("refund")})
        if form.is_valid():
            data = form.cleaned_data
            try:
                refund, created = purchase_refund(
                    purchase=purchase,
                    refund_id=data["refund_id"],
                    amount=data["amount"],
                    lines=data["lines"],
                    actor=Actor.for_staff(request.user),
                )
            except LoyaltyError as error:
                add_domain_error(form, error)
            else:
                if created:
                    message = _("Refund of %(amount)s recorded; %(points)s points reversed.") % {
                        "amount": refund.amount,
                        "points": refund.points_reversed,
                    }
                    self.log_change(request, purchase, message)
                    self.message_user(request, message, messages.SUCCESS)
                else:
                    self.message_user(
                        request,
                        _("This refund id was already recorded; nothing was refunded again."),
                        messages.WARNING,
                    )
                return redirect(self.admin_url("change", purchase.pk))
        lines = purchase.lines.order_by("line_no")
        return render_form_page(
            self,
            request,
            form=form,
            obj=purchase,
            title=_("Refund"),
            submit_label=_("Refund"),
            intro=_("Paid %(amount)s %(currency)s, refunded so far %(refunded)s. Lines: %(lines)s")
            % {
                "amount": purchase.amount,
                "currency": purchase.currency,
                "refunded": purchase.refunded_amount,
                "lines": "; ".join(
                    f"{li.line_no}: {li.sku or li.category} "
                    f"{li.quantity - li.refunded_quantity}/{li.quantity}"
                    for li in lines
                )
                or "-",
            },
        )
