"""The ledger: append-only, so the admin only ever shows it. Its list leads to the monthly
settlement ("Abrechnung", ``programs.admin.settlement``) and to the export of a period's
entries for accounting (``programs.admin.ledger_period``)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from programs.admin.base import ReadOnlyInline, ServiceWrittenAdmin, field_shown
from programs.admin.ledger_period import LedgerPeriodExportPage
from programs.admin.settlement import SettlementPage
from programs.admin.wording import reason_text
from programs.models import LedgerEntry, LotAllocation


class LedgerReasonDisplay:
    """A ledger entry's reason in the reader's language (the stored row stays as written)."""

    @admin.display(description=_("reason"))
    def reason_shown(self, obj):
        return reason_text(obj.reason)


class LotAllocationInline(ReadOnlyInline):
    model = LotAllocation
    fields = ("lot_shown", "points_shown")
    readonly_fields = fields
    verbose_name_plural = _("drawn from lots")
    lot_shown = field_shown("lot", _("points package"))
    points_shown = field_shown("points", _("points"))

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("lot")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(
    LedgerPeriodExportPage, SettlementPage, LedgerReasonDisplay, ServiceWrittenAdmin
):
    list_display = (
        "created_at",
        "membership",
        "kind",
        "points",
        "pending_points",
        "held_points",
        "balance_after",
        "pending_after",
        "source",
        "actor",
        "reason_shown",
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
        "held_points",
        "balance_after",
        "pending_after",
        "source",
        "purchase_shown",
        "redemption_shown",
        "referral_shown",
        "action_event_shown",
        "hold_shown",
        "actor_type",
        "actor_partner_shown",
        "actor_user_shown",
        "reason_shown",
        "idempotency_key",
    )
    readonly_fields = fields
    inlines = [LotAllocationInline]

    # The relations carry no translated verbose name.
    purchase_shown = field_shown("purchase", _("purchase"))
    redemption_shown = field_shown("redemption", _("redemption"))
    referral_shown = field_shown("referral", _("referral"))
    action_event_shown = field_shown("action_event", _("action"))
    hold_shown = field_shown("hold", _("points hold"))
    actor_partner_shown = field_shown("actor_partner", _("partner"))
    actor_user_shown = field_shown("actor_user", _("staff member"))

    @admin.display(description=_("caused by"))
    def actor(self, obj):
        if obj.actor_user_id:
            return obj.actor_user.get_username()
        if obj.actor_partner_id:
            return obj.actor_partner.name
        return obj.get_actor_type_display()
