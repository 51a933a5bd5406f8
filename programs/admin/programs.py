"""Programs and partners: configuration that staff define here, with the rules inline."""

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from programs.models import ActionRule, EarnRule, Partner, Program, Tier
from programs.services.api_keys import api_keys_changed


class TierInline(admin.StackedInline):
    model = Tier
    extra = 0
    fields = (
        ("name", "rank", "kind"),
        ("threshold", "earn_multiplier"),
        "benefits",
        ("subscription_price", "subscription_period"),
    )


class EarnRuleInline(admin.TabularInline):
    model = EarnRule
    extra = 0
    fields = ("name", "category", "sku", "multiplier", "excluded", "is_active")


class ActionRuleInline(admin.TabularInline):
    model = ActionRule
    extra = 0
    fields = ("code", "name", "points", "limit_count", "limit_period", "is_active")


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "is_active",
        "currency",
        "points_per_unit",
        "pending_days",
        "expiry_policy",
        "return_policy",
        "referral_enabled",
        "member_count",
    )
    list_filter = ("is_active", "expiry_policy", "return_policy", "referral_enabled")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "slug",
                    "description",
                    "is_active",
                    "currency",
                    "history_starts_on",
                )
            },
        ),
        (
            _("Earning"),
            {
                "fields": (
                    "points_per_unit",
                    "rounding",
                    "min_purchase_amount",
                    "rule_combination",
                )
            },
        ),
        (_("Return window"), {"fields": ("pending_days",)}),
        (_("Expiry"), {"fields": ("expiry_policy", "expiry_months")}),
        (_("Redemption order"), {"fields": ("redemption_order", "point_value")}),
        (_("Return policy"), {"fields": ("return_policy",)}),
        (
            _("Tiers"),
            {
                "fields": (
                    "tier_metric",
                    "tier_window",
                    "downgrade_mode",
                    "downgrade_grace_days",
                    "approaching_tier_percent",
                )
            },
        ),
        (
            _("Referrals"),
            {
                "fields": (
                    "referral_enabled",
                    "referrer_points",
                    "referee_points",
                    "referral_min_purchase",
                    "referral_cap",
                    "referral_cap_days",
                )
            },
        ),
        (_("Occasions"), {"fields": ("birthday_points", "anniversary_points")}),
        (
            _("Shared accounts and transfers"),
            {
                "fields": (
                    "accounts_pool",
                    "transfers_enabled",
                    "transfer_daily_limit",
                    "transfer_yearly_limit",
                    "transfer_min_age_days",
                    "transfer_review_above",
                )
            },
        ),
    )
    # Campaigns have their own page (programs/admin/campaigns.py): audience, conditions,
    # limits and a what-if do not fit in a row.
    inlines = [TierInline, EarnRuleInline, ActionRuleInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_total=Count("memberships"))

    @admin.display(description=_("members"), ordering="member_total")
    def member_count(self, obj):
        return obj.member_total


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "is_active", "created_at")
    list_filter = ("is_active", "programs")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("programs",)
    fields = ("name", "slug", "is_active", "programs")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change:  # a deactivated partner's keys stop working with the next request
            api_keys_changed(obj.api_keys.values_list("prefix", flat=True))
