"""Memberships: balances and tier parts read-only; points, tiers and subscriptions change
only through the operation pages, which call the services."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from programs.admin.base import (
    EMPTY,
    LatestRowsFormSet,
    ReadOnlyInline,
    ServiceWrittenAdmin,
    tier_label,
)
from programs.admin.holds import PointsHoldInline
from programs.admin.ledger import LedgerReasonDisplay
from programs.admin.membership_card import CARD_FIELDS, MembershipCard
from programs.admin.membership_exports import MembershipExports
from programs.admin.membership_figures import (
    FIGURE_FIELDS,
    FIGURES_FIELDSET,
    MembershipFiguresDisplay,
)
from programs.admin.membership_operations import MembershipOperations
from programs.admin.membership_status import StatusChangeInline
from programs.models import (
    LedgerEntry,
    Membership,
    Tier,
    TierChange,
)


class TierFilter(admin.SimpleListFilter):
    title = _("tier")
    parameter_name = "tier"

    def lookups(self, request, model_admin):
        tiers = Tier.objects.select_related("program").order_by("program__name", "rank")
        return [(tier.pk, f"{tier.program.name}: {tier.name}") for tier in tiers]

    def queryset(self, request, queryset):
        return queryset.filter(tier_id=self.value()) if self.value() else queryset


class LedgerEntryInline(LedgerReasonDisplay, ReadOnlyInline):
    model = LedgerEntry
    formset = LatestRowsFormSet
    verbose_name_plural = _("latest ledger entries (newest 50)")
    fields = (
        "created_at",
        "kind",
        "points",
        "pending_points",
        "held_points",
        "balance_after",
        "pending_after",
        "source",
        "actor_type",
        "reason_shown",
    )
    readonly_fields = fields


class TierChangeInline(ReadOnlyInline):
    model = TierChange
    formset = LatestRowsFormSet
    verbose_name_plural = _("tier changes (newest 50)")
    fields = ("created_at", "from_name", "to_name", "reason", "qualifying_value", "note", "by")
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("from_tier__program", "to_tier__program", "changed_by")
        )

    @admin.display(description=_("from"))
    def from_name(self, obj):
        return tier_label(obj.from_tier)

    @admin.display(description=_("to"))
    def to_name(self, obj):
        return tier_label(obj.to_tier)

    @admin.display(description=_("changed by"))
    def by(self, obj):
        return obj.changed_by.get_username() if obj.changed_by else EMPTY


@admin.register(Membership)
class MembershipAdmin(
    MembershipExports,
    MembershipCard,
    MembershipOperations,
    MembershipFiguresDisplay,
    ServiceWrittenAdmin,
):
    allow_add = True
    list_display = (
        "customer",
        "program",
        "status",
        "tier_display",
        "available_display",
        "pending",
        "debt",
        "lifetime_earned",
        "joined_at",
    )
    list_select_related = ("customer", "program", "tier")
    list_filter = ("status", "program", TierFilter)
    search_fields = (
        "customer__email",
        "customer__first_name",
        "customer__last_name",
        "=referral_code",
    )
    search_help_text = _("E-mail, name, referral code or card number of the member.")
    show_full_result_count = False
    fieldsets = (
        (
            None,
            {"fields": ("customer", "program", "status", "referral_code", "joined_at", "ledger")},
        ),
        (_("Member card"), {"fields": CARD_FIELDS}),
        (
            _("Points"),
            {
                "fields": (
                    "available_display",
                    "balance",
                    "pending",
                    "held",
                    "debt",
                    "lifetime_earned",
                    "last_activity_at",
                )
            },
        ),
        (
            _("Tier"),
            {
                "fields": (
                    "tier_display",
                    "qualified_tier_display",
                    "qualified_tier_since",
                    "tier_review_at",
                    "override_tier_display",
                    "override_until",
                    "subscription_tier_display",
                    "subscription_until",
                )
            },
        ),
        FIGURES_FIELDSET,
    )
    readonly_fields = (
        "customer",
        "program",
        "status",
        "referral_code",
        "joined_at",
        "ledger",
        *CARD_FIELDS,
        "available_display",
        "balance",
        "pending",
        "held",
        "debt",
        "lifetime_earned",
        "last_activity_at",
        "tier_display",
        "qualified_tier_display",
        "qualified_tier_since",
        "tier_review_at",
        "override_tier_display",
        "override_until",
        "subscription_tier_display",
        "subscription_until",
        *FIGURE_FIELDS,
    )
    inlines = [LedgerEntryInline, PointsHoldInline, TierChangeInline, StatusChangeInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related(
                "customer",
                "program",
                "tier",
                "qualified_tier",
                "override_tier",
                "subscription_tier",
                "figures",
            )
        )

    @admin.display(description=_("points to spend"))
    def available_display(self, obj):
        return obj.available

    @admin.display(description=_("tier"), ordering="tier__rank")
    def tier_display(self, obj):
        return tier_label(obj.tier)

    @admin.display(description=_("qualified tier"))
    def qualified_tier_display(self, obj):
        return tier_label(obj.qualified_tier)

    @admin.display(description=_("tier set by staff"))
    def override_tier_display(self, obj):
        return tier_label(obj.override_tier)

    @admin.display(description=_("subscribed tier"))
    def subscription_tier_display(self, obj):
        return tier_label(obj.subscription_tier)

    @admin.display(description=_("ledger"))
    def ledger(self, obj):
        url = reverse("admin:programs_ledgerentry_changelist")
        return format_html(
            '<a href="{}?membership__id__exact={}">{}</a>', url, obj.pk, _("All ledger entries")
        )
