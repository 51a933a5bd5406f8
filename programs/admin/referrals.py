"""Referrals: the review queue, where staff approve or reject suspicious referrals."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext_lazy as _

from programs.admin.base import (
    EMPTY,
    ServiceWrittenAdmin,
    add_domain_error,
    field_shown,
    render_form_page,
    titled_filter,
)
from programs.admin.forms import ConfirmForm, ReasonForm
from programs.admin.wording import risk_reasons_text
from programs.errors import LoyaltyError
from programs.models import Referral, ReferralStatus
from programs.services.referrals import referral_approve, referral_reject

SETTLED = (ReferralStatus.REWARDED, ReferralStatus.REJECTED)


class ReviewQueueFilter(admin.SimpleListFilter):
    """Status, opening on the review queue; "All" is an explicit choice."""

    title = _("status")
    parameter_name = "status"
    ALL = "all"

    def lookups(self, request, model_admin):
        return [*ReferralStatus.choices, (self.ALL, _("All"))]

    def value(self):
        return super().value() or ReferralStatus.REVIEW

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value()
        return queryset if value == self.ALL else queryset.filter(status=value)


@admin.register(Referral)
class ReferralAdmin(ServiceWrittenAdmin):
    list_display = (
        "created_at",
        "referrer_shown",
        "referee_shown",
        "status",
        "risk",
        "risk_reasons_shown",
        "qualifying_purchase_shown",
        "rejection_reason_shown",
    )
    list_select_related = (
        "referrer__customer",
        "referrer__program",
        "referee__customer",
        "referee__program",
        "qualifying_purchase",
    )
    list_filter = (ReviewQueueFilter, "risk", ("program", titled_filter(_("program"))))
    search_fields = ("referrer__customer__email", "referee__customer__email")
    search_help_text = _("E-mail of the referrer or of the friend.")
    show_full_result_count = False
    fields = (
        "program_shown",
        "referrer_shown",
        "referee_shown",
        "status",
        "risk",
        "risk_reasons_shown",
        "signup_ip",
        "signup_device_id",
        "qualifying_purchase_shown",
        "release_at",
        "rewarded_at",
        "rejection_reason_shown",
        "reviewed_by_shown",
        "reviewed_at",
        "created_at",
    )
    readonly_fields = fields
    actions = ["approve_referrals", "reject_referrals"]

    # The relations carry no translated verbose name; the stored codes are English.
    program_shown = field_shown("program", _("program"))
    referrer_shown = field_shown("referrer", _("referrer"), ordering="referrer__customer__email")
    referee_shown = field_shown("referee", _("friend"), ordering="referee__customer__email")
    qualifying_purchase_shown = field_shown("qualifying_purchase", _("qualifying purchase"))
    reviewed_by_shown = field_shown("reviewed_by", _("reviewed by"))

    @admin.display(description=_("risk reasons"))
    def risk_reasons_shown(self, obj):
        return risk_reasons_text(obj.risk_reasons) or EMPTY

    @admin.display(description=_("rejection reason"))
    def rejection_reason_shown(self, obj):
        return risk_reasons_text(obj.rejection_reason) or EMPTY

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.list_select_related, "program")

    def object_tools(self, request, obj):
        if not self.has_operate_permission(request):
            return []
        tools = []
        if obj.status == ReferralStatus.REVIEW:
            tools.append((_("Approve"), self.admin_url("approve", obj.pk)))
        if obj.status not in SETTLED:
            tools.append((_("Reject"), self.admin_url("reject", obj.pk)))
        return tools

    def get_urls(self):
        view = self.admin_site.admin_view
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<path:object_id>/approve/", view(self.approve_view), name=f"{info}_approve"),
            path("<path:object_id>/reject/", view(self.reject_view), name=f"{info}_reject"),
            *super().get_urls(),
        ]

    def approve_view(self, request, object_id):
        referral = self.operated_object(request, object_id)
        form = ConfirmForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            try:
                referral_approve(referral=referral, user=request.user)
            except LoyaltyError as error:
                add_domain_error(form, error)
            else:
                self.log_change(request, referral, _("Approved."))
                self.message_user(request, _("Referral approved."), messages.SUCCESS)
                return redirect(self.admin_url("change", referral.pk))
        return render_form_page(
            self,
            request,
            form=form,
            obj=referral,
            title=_("Approve referral"),
            submit_label=_("Approve"),
            intro=_("Risk reasons: %(reasons)s. Approved referrals are rewarded as usual.")
            % {"reasons": risk_reasons_text(referral.risk_reasons) or EMPTY},
        )

    def reject_view(self, request, object_id):
        referral = self.operated_object(request, object_id)
        form = ReasonForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            try:
                referral_reject(referral=referral, user=request.user, reason=reason)
            except LoyaltyError as error:
                add_domain_error(form, error)
            else:
                self.log_change(request, referral, _("Rejected: %(reason)s") % {"reason": reason})
                self.message_user(request, _("Referral rejected."), messages.SUCCESS)
                return redirect(self.admin_url("change", referral.pk))
        return render_form_page(
            self,
            request,
            form=form,
            obj=referral,
            title=_("Reject referral"),
            submit_label=_("Reject"),
        )

    @admin.action(description=_("Approve selected referrals"), permissions=["operate"])
    def approve_referrals(self, request, queryset):
        approved = 0
        for referral in queryset.order_by("pk"):
            try:
                referral_approve(referral=referral, user=request.user)
            except LoyaltyError as error:
                self.message_user(request, f"{referral}: {error.message}", messages.ERROR)
            else:
                approved += 1
        if approved:
            self.message_user(
                request, _("%(count)s referrals approved.") % {"count": approved}, messages.SUCCESS
            )

    @admin.action(
        description=_("Reject selected referrals (asks for the reason)"), permissions=["operate"]
    )
    def reject_referrals(self, request, queryset):
        form = ReasonForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            rejected = 0
            for referral in queryset.order_by("pk"):
                try:
                    referral_reject(
                        referral=referral, user=request.user, reason=form.cleaned_data["reason"]
                    )
                except LoyaltyError as error:
                    self.message_user(request, f"{referral}: {error.message}", messages.ERROR)
                else:
                    rejected += 1
            if rejected:
                self.message_user(
                    request,
                    _("%(count)s referrals rejected.") % {"count": rejected},
                    messages.SUCCESS,
                )
            return None
        selected = [str(pk) for pk in queryset.values_list("pk", flat=True)]
        return render_form_page(
            self,
            request,
            form=form,
            title=_("Reject referrals"),
            submit_label=_("Reject"),
            intro=_("%(count)s referrals selected. The reason is kept with each of them.")
            % {"count": len(selected)},
            hidden=[
                ("action", "reject_referrals"),
                *((helpers.ACTION_CHECKBOX_NAME, pk) for pk in selected),
            ],
        )
