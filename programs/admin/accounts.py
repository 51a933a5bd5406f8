"""Shared accounts in the staff admin: the list and the change page.

An account's company data (name, VAT id, address, purchase order rule) is edited on its
change page; everything else goes through ``programs.services.accounts`` on the pages of
``account_pages.py`` (create, members, invite, close). The transfer review is in
``transfers.py``."""

from django.contrib import admin
from django.db.models import Count, Q, Sum
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from customers.services import customer_update
from programs.admin.account_pages import AccountPages
from programs.admin.base import (
    EMPTY,
    ReadOnlyInline,
    ServiceWrittenAdmin,
    field_shown,
    tier_label,
    titled_filter,
)
from programs.cards import card_number_display
from programs.models import Account, AccountInvitation, AccountMember, AccountStatus, Membership

COMPANY_FIELDS = ("vat_id", "street", "postal_code", "city", "country", "requires_po_reference")
EDITABLE = ("name", *COMPANY_FIELDS)


class AccountMemberInline(ReadOnlyInline):
    model = AccountMember
    verbose_name_plural = _("members")
    fields = ("member_shown", "card", "role", "monthly_limit", "joined_at", "left_at", "change")
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("membership__customer", "account")
            .order_by("left_at", "joined_at", "pk")
        )

    @admin.display(description=_("member"))
    def member_shown(self, obj):
        url = reverse("admin:programs_membership_change", args=[obj.membership_id])
        return format_html('<a href="{}">{}</a>', url, obj.membership.customer)

    @admin.display(description=_("card number"))
    def card(self, obj):
        return card_number_display(obj.membership.card_number)

    @admin.display(description=_("change"))
    def change(self, obj):
        if obj.left_at is not None or obj.account.status != AccountStatus.ACTIVE:
            return EMPTY
        base = reverse("admin:programs_account_member_update", args=[obj.account_id])
        remove = reverse("admin:programs_account_member_remove", args=[obj.account_id])
        return format_html(
            '<a href="{}?member={}">{}</a> · <a href="{}?member={}">{}</a>',
            base,
            obj.pk,
            _("Role or limit"),
            remove,
            obj.pk,
            _("Remove"),
        )


class AccountInvitationInline(ReadOnlyInline):
    model = AccountInvitation
    verbose_name_plural = _("invitations")
    fields = ("email", "role", "status", "expires_at", "created_at", "answered_at")
    readonly_fields = fields


@admin.register(Account)
class AccountAdmin(AccountPages, ServiceWrittenAdmin):
    allow_add = True
    list_display = (
        "name",
        "kind",
        "program",
        "members_count",
        "points_shown",
        "tier_shown",
        "status",
    )
    list_select_related = ("program", "holder__tier")
    list_filter = ("kind", "status", ("program", titled_filter(_("program"))))
    search_fields = ("name", "vat_id")
    search_help_text = _("Name or VAT id of the account.")
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("name", "kind", "program_shown", "status_shown")}),
        (_("Company data"), {"fields": COMPANY_FIELDS}),
        (
            _("Points"),
            {
                "fields": (
                    "pooling",
                    "holder_shown",
                    "points_shown",
                    "pending_shown",
                    "held_shown",
                    "tier_shown",
                    "transfers",
                )
            },
        ),
        (
            _("History"),
            {"fields": ("created_at", "created_by_partner_shown", "external_id", "closed_at")},
        ),
    )
    inlines = [AccountMemberInline, AccountInvitationInline]

    program_shown = field_shown("program", _("program"))
    created_by_partner_shown = field_shown("created_by_partner", _("created by partner"))

    def get_queryset(self, request):
        current = Q(members__left_at__isnull=True)
        return (
            super()
            .get_queryset(request)
            .select_related("program", "holder__tier", "created_by_partner")
            .annotate(
                members_total=Count("members", filter=current),
                members_balance=Sum("members__membership__balance", filter=current),
            )
        )

    def get_readonly_fields(self, request, obj=None):
        shown = [field for fieldset in self.fieldsets for field in fieldset[1]["fields"]]
        if obj is not None and obj.status == AccountStatus.ACTIVE:
            return [field for field in shown if field not in EDITABLE]
        return shown

    # The company data is edited here; the rest only through the services.
    def has_change_permission(self, request, obj=None):
        return admin.ModelAdmin.has_change_permission(self, request, obj)

    def save_model(self, request, obj, form, change):
        obj.save(update_fields=[name for name in EDITABLE if name in form.changed_data] or None)
        if "name" in form.changed_data:  # the customer standing for the account
            customer_update(obj.holder.customer, last_name=obj.name[:150])

    # -- shown ------------------------------------------------------------------------

    @admin.display(description=_("members"), ordering="members_total")
    def members_count(self, obj):
        return obj.members_total

    @admin.display(description=_("points to spend"))
    def points_shown(self, obj):
        if obj.program.accounts_pool:
            return obj.holder.available
        return _("%(points)s (members' own, combined)") % {"points": obj.members_balance or 0}

    @admin.display(description=_("pending"))
    def pending_shown(self, obj):
        return obj.holder.pending

    @admin.display(description=_("held by a partner"))
    def held_shown(self, obj):
        return obj.holder.held

    @admin.display(description=_("tier"), ordering="holder__tier__rank")
    def tier_shown(self, obj):
        return tier_label(obj.holder.tier)

    @admin.display(description=_("status"), ordering="status")
    def status_shown(self, obj):
        shown = obj.get_status_display()
        if obj.closing_note:
            return f"{shown}: {obj.closing_note}"
        return shown

    @admin.display(description=_("pooling"))
    def pooling(self, obj):
        if obj.program.accounts_pool:
            return _("Members earn into the account's balance and tier.")
        return _("Members keep their own balances; the account shows the combined figures.")

    @admin.display(description=_("account balance"))
    def holder_shown(self, obj):
        url = reverse("admin:programs_membership_change", args=[obj.holder_id])
        return format_html('<a href="{}">{}</a>', url, card_number_display(obj.holder.card_number))

    @admin.display(description=_("transfers"))
    def transfers(self, obj):
        url = reverse("admin:programs_transfer_changelist")
        return format_html(
            '<a href="{}?membership={}">{}</a>', url, obj.holder_id, _("Transfers of the account")
        )


def account_of(membership: Membership) -> Account | None:
    """The account ``membership`` belongs to now, or holds the points of."""
    held = Account.objects.filter(holder=membership).first()
    if held is not None:
        return held
    member = (
        AccountMember.objects.select_related("account")
        .filter(membership=membership, left_at__isnull=True)
        .first()
    )
    return member.account if member is not None else None
