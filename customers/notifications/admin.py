"""Staff admin for notifications (read-only, with a resend action) and the engagement
weights and scores (weights editable, scores read-only, "recompute now")."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from customers.engagement.scores import engagement_recompute, engagement_weights
from customers.models import (
    CommunicationPreferences,
    EngagementScore,
    EngagementWeights,
    Notification,
)
from customers.notifications.services import notifications_email_resend


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadState(admin.SimpleListFilter):
    title = _("read")
    parameter_name = "read"

    def lookups(self, request, model_admin):
        return [("yes", _("Read")), ("no", _("Unread"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(read_at__isnull=self.value() == "no")
        return queryset


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "customer",
        "kind",
        "email_state",
        "email_attempts",
        "email_sent_at",
        "read_at",
    )
    list_filter = ("kind", "email_state", ReadState, "created_at")
    search_fields = ("customer__email", "customer__last_name", "cause_key")
    search_help_text = _("Customer e-mail or name, or the cause.")
    list_select_related = ("customer",)
    show_full_result_count = False
    date_hierarchy = "created_at"
    readonly_fields = (
        "customer",
        "membership",
        "kind",
        "cause_key",
        "text",
        "params",
        "created_at",
        "read_at",
        "email_state",
        "email_attempts",
        "email_last_error",
        "email_next_attempt_at",
        "email_sent_at",
    )
    fields = readonly_fields
    actions = ["resend_email"]

    @admin.display(description=_("text"))
    def text(self, obj):
        message = obj.message
        return f"{message.title}: {message.body}"

    def has_resend_permission(self, request):
        return request.user.has_perm("customers.view_notification") and request.user.is_staff

    @admin.action(description=_("Send the e-mail again"), permissions=["resend"])
    def resend_email(self, request, queryset):
        count = notifications_email_resend(queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            ngettext(
                "%(count)d e-mail queued (preferences still apply).",
                "%(count)d e-mails queued (preferences still apply).",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )


@admin.register(CommunicationPreferences)
class CommunicationPreferencesAdmin(ReadOnlyAdmin):
    """Customers set their preferences in the portal; staff only look."""

    list_display = (
        "customer",
        "email_tier_changes",
        "email_tier_progress",
        "email_points_expiry",
        "email_rewards",
        "email_referrals",
        "email_marketing",
        "updated_at",
    )
    search_fields = ("customer__email",)
    list_select_related = ("customer",)


@admin.register(EngagementWeights)
class EngagementWeightsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "half_life_days", "churn_threshold", "churn_drop", "updated_at")
    fieldsets = (
        (
            _("Weights"),
            {
                "fields": (
                    "recency",
                    "frequency",
                    "monetary",
                    "portal",
                    "surveys",
                    "referrals",
                    "redemptions",
                ),
                "description": _("Relative weights: only their ratios matter."),
            },
        ),
        (
            _("Scales"),
            {
                "fields": (
                    "half_life_days",
                    "frequency_scale",
                    "monetary_scale",
                    "portal_scale",
                    "surveys_scale",
                    "referrals_scale",
                    "redemptions_scale",
                )
            },
        ),
        (_("Churn risk"), {"fields": ("churn_threshold", "churn_drop", "churn_drop_days")}),
    )
    actions = ["recompute_now"]

    def has_add_permission(self, request):
        return False

    def changelist_view(self, request, extra_context=None):
        engagement_weights()  # the singleton exists from the first look on
        return super().changelist_view(request, extra_context)

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Recompute all engagement scores now"), permissions=["change"])
    def recompute_now(self, request, queryset):
        scored = engagement_recompute()
        self.message_user(
            request,
            _("Engagement scores recomputed for %(count)d memberships.") % {"count": scored},
            messages.SUCCESS,
        )


@admin.register(EngagementScore)
class EngagementScoreAdmin(ReadOnlyAdmin):
    list_display = (
        "membership",
        "score",
        "churn_risk",
        "recency",
        "frequency",
        "monetary",
        "portal",
        "referrals",
        "redemptions",
        "computed_at",
    )
    list_filter = ("churn_risk", "membership__program")
    search_fields = ("customer__email", "customer__last_name")
    list_select_related = ("membership__customer", "membership__program")
    show_full_result_count = False
    actions = ["recompute_now"]

    def has_recompute_permission(self, request):
        return request.user.has_perm("customers.change_engagementweights")

    @admin.action(description=_("Recompute all engagement scores now"), permissions=["recompute"])
    def recompute_now(self, request, queryset):
        EngagementWeightsAdmin.recompute_now(self, request, queryset)
