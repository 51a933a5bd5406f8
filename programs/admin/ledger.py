"""The ledger: append-only, so the admin only ever shows it."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from programs.admin.base import ReadOnlyInline, ServiceWrittenAdmin
from programs.models import LedgerEntry, LotAllocation


class LotAllocationInline(ReadOnlyInline):
    model = LotAllocation
    fields = ("lot", "points")
    readonly_fields = fields
    verbose_name_plural = _("drawn from lots")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("lot")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ServiceWrittenAdmin):
    list_display = (
        "created_at",
        "membership",
        "kind",
        "points",
        "pending_points",
        "balance_after",
        "pending_after",
        "source",
        "actor",
        "reason",
    )
    list_select_related = (
        "membership__customer",
        "membership__program",
        "actor_partner",
        "actor_user",
    )
    list_filter = ("kind", "source", "actor_type", "membership__program")
    search_fields = ("membership__customer__email", "=idempotency_key")
    search_help_text = _("The member's e-mail, or an exact idempotency key.")
    date_hierarchy = "created_at"
    show_full_result_count = False
    fields = (
        "created_at",
        "membership",
        "kind",
        "points",
        "pending_points",
        "balance_after",
        "pending_after",
        "source",
        "purchase",
        "redemption",
        "referral",
        "action_event",
        "actor_type",
        "actor_partner",
        "actor_user",
        "reason",
        "idempotency_key",
    )
    readonly_fields = fields
    inlines = [LotAllocationInline]

    @admin.display(description=_("caused by"))
    def actor(self, obj):
        if obj.actor_user_id:
            return obj.actor_user.get_username()
        if obj.actor_partner_id:
            return obj.actor_partner.name
        return obj.get_actor_type_display()
