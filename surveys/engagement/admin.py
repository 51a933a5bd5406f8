"""Staff admin for engagement: the weights editable, the scores read-only, and
"recompute now" on both."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from programs.notifications.admin import ReadOnlyAdmin
from surveys.engagement.models import EngagementScore, EngagementWeights
from surveys.engagement.scores import engagement_recompute, engagement_weights


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
        "engagement_score",
        "churn_risk",
        "engagement_recency",
        "engagement_frequency",
        "engagement_monetary",
        "engagement_portal",
        "engagement_surveys",
        "engagement_referrals",
        "engagement_redemptions",
        "engagement_computed_at",
    )
    # the score's page shows the score and its parts, not the fitted customer value
    fields = readonly_fields = list_display
    list_filter = ("churn_risk", "membership__program")
    search_fields = ("membership__customer__email", "membership__customer__last_name")
    list_select_related = ("membership__customer", "membership__program")
    show_full_result_count = False
    actions = ["recompute_now"]

    def has_recompute_permission(self, request):
        return request.user.has_perm("engagement.change_engagementweights")

    @admin.action(description=_("Recompute all engagement scores now"), permissions=["recompute"])
    def recompute_now(self, request, queryset):
        EngagementWeightsAdmin.recompute_now(self, request, queryset)
