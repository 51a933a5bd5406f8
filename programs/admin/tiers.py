"""The tier audit trail and paid subscription periods: written by services, shown here."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from programs.admin.base import ServiceWrittenAdmin, tier_label
from programs.models import TierChange, TierSubscription


@admin.register(TierChange)
class TierChangeAdmin(ServiceWrittenAdmin):
    list_display = (
        "created_at",
        "membership",
        "from_name",
        "to_name",
        "reason",
        "qualifying_value",
        "changed_by",
        "note",
    )
    list_select_related = (
        "membership__customer",
        "membership__program",
        "from_tier",
        "to_tier",
        "changed_by",
    )
    list_filter = ("reason", "membership__program")
    search_fields = ("membership__customer__email",)
    search_help_text = _("The member's e-mail.")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        "created_at",
        "membership",
        "from_name",
        "to_name",
        "reason",
        "qualifying_value",
        "window_start",
        "window_end",
        "note",
        "changed_by",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.list_select_related)

    @admin.display(description=_("from"))
    def from_name(self, obj):
        return tier_label(obj.from_tier)

    @admin.display(description=_("to"))
    def to_name(self, obj):
        return tier_label(obj.to_tier)


@admin.register(TierSubscription)
class TierSubscriptionAdmin(ServiceWrittenAdmin):
    list_display = ("membership", "tier_name", "starts_at", "ends_at", "purchase", "created_at")
    list_select_related = ("membership__customer", "membership__program", "tier", "purchase")
    list_filter = ("tier__program",)
    search_fields = ("membership__customer__email", "=purchase__order_id")
    search_help_text = _("The member's e-mail, or the exact order id of the fee.")
    date_hierarchy = "ends_at"
    fields = ("membership", "tier_name", "starts_at", "ends_at", "purchase", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.list_select_related)

    @admin.display(description=_("tier"))
    def tier_name(self, obj):
        return obj.tier.name
