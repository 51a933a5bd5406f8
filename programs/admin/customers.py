"""Customers in the admin (the engine's, since staff enroll them in programs here): created
and edited through ``customers.services`` so the normalised e-mail
(used by the referral fraud checks) always follows the e-mail; enrolled via
``membership_enroll``."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, CustomerKind, CustomerNote
from customers.privacy import customer_anonymize
from customers.services import customer_create, customer_update
from programs.admin.accounts import account_of
from programs.admin.base import (
    CHANGE_FORM_WITH_TOOLS,
    EMPTY,
    ReadOnlyInline,
    add_domain_error,
    render_form_page,
    tier_label,
)
from programs.admin.forms import CustomerEnrollForm
from programs.admin.retention import retention_report_view
from programs.errors import LoyaltyError
from programs.models import Membership
from programs.services.memberships import membership_enroll

EDITABLE = ("email", "first_name", "last_name", "language", "birth_date")


class AnonymizeForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("Yes, delete this customer's personal data for good"),
        help_text=_(
            "Name, e-mail, birth date, the portal login, notifications and survey comments "
            "are removed and the memberships closed. Points history, purchases and survey "
            "scores stay, anonymised. This cannot be undone."
        ),
    )


class CustomerForm(forms.ModelForm):
    class Meta:
        model = Customer
        fields = EDITABLE


class MembershipInline(ReadOnlyInline):
    model = Membership
    show_change_link = True
    fields = (
        "program",
        "status",
        "tier_name",
        "balance",
        "pending",
        "debt",
        "joined_at",
        "shared_account",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("program", "tier")

    @admin.display(description=_("tier"))
    def tier_name(self, obj):
        return tier_label(obj.tier)

    @admin.display(description=_("shared account"))
    def shared_account(self, obj):
        account = account_of(obj)
        if account is None:
            return EMPTY
        url = reverse("admin:programs_account_change", args=[account.pk])
        return format_html('<a href="{}">{}</a>', url, account)


class CustomerNoteInline(ReadOnlyInline):
    model = CustomerNote
    fields = ("created_at", "author", "text")
    readonly_fields = fields
    verbose_name_plural = _("notes")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    form = CustomerForm
    change_form_template = CHANGE_FORM_WITH_TOOLS
    change_list_template = "admin/customers/customer/change_list.html"
    list_display = ("__str__", "kind_shown", "email", "language", "created_at")
    list_filter = ("kind", "language", ("deletion_requested_at", admin.EmptyFieldListFilter))
    search_fields = ("email", "email_normalized", "first_name", "last_name")
    search_help_text = _("E-mail or name.")
    show_full_result_count = False
    fieldsets = (
        (None, {"fields": ("kind_shown", "email", "email_normalized", "first_name", "last_name")}),
        (_("Preferences"), {"fields": ("language", "birth_date")}),
        (
            _("Account"),
            {
                "fields": (
                    "user",
                    "created_at",
                    "updated_at",
                    "deletion_requested_at",
                    "retention_notice_at",
                    "anonymized_at",
                )
            },
        ),
    )
    readonly_fields = (
        "kind_shown",
        "email_normalized",
        "user",
        "created_at",
        "updated_at",
        "deletion_requested_at",
        "retention_notice_at",
        "anonymized_at",
    )
    inlines = [MembershipInline, CustomerNoteInline]

    @admin.display(description=_("kind"), ordering="kind")
    def kind_shown(self, obj):
        if obj.kind == CustomerKind.SHARED:  # marked: it stands for an account, not a person
            return format_html("<strong>{}</strong>", obj.get_kind_display())
        return obj.get_kind_display()

    def has_delete_permission(self, request, obj=None):
        # Customers hold ledger history; removing one is an anonymisation, not a delete.
        return False

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in EDITABLE}
        if change:
            changed = {name: data[name] for name in EDITABLE if name in form.changed_data}
            if changed:
                customer_update(obj, **changed)
            return
        created = customer_create(**data)
        obj.pk = created.pk
        obj.refresh_from_db()

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        tools = []
        if obj is not None and request.user.has_perm("customers.add_customernote"):
            url = reverse("admin:customers_customernote_add")
            tools.append((_("Add a note"), f"{url}?customer={obj.pk}"))
        shared = obj is not None and obj.kind == CustomerKind.SHARED  # an account's own
        if obj is not None and not shared and self.has_change_permission(request, obj):
            url = reverse("admin:customers_customer_enroll", args=[obj.pk])
            tools.append((_("Enroll in a program"), url))
            if not obj.anonymized_at:
                url = reverse("admin:customers_customer_anonymize", args=[obj.pk])
                tools.append((_("Delete personal data"), url))
        context["object_tools"] = tools
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_urls(self):
        return [
            path(
                "retention/",
                self.admin_site.admin_view(self.retention_view),
                name="customers_customer_retention",
            ),
            path(
                "<path:object_id>/enroll/",
                self.admin_site.admin_view(self.enroll_view),
                name="customers_customer_enroll",
            ),
            path(
                "<path:object_id>/anonymize/",
                self.admin_site.admin_view(self.anonymize_view),
                name="customers_customer_anonymize",
            ),
            *super().get_urls(),
        ]

    def retention_view(self, request):
        return retention_report_view(self, request)

    def anonymize_view(self, request, object_id):
        customer = self.get_object(request, unquote(object_id))
        if customer is None:
            raise Http404
        if not self.has_change_permission(request, customer):
            raise PermissionDenied
        form = AnonymizeForm(request.POST if request.method == "POST" else None)
        if form.is_valid():
            customer_anonymize(customer=customer, user=request.user)
            self.log_change(request, customer, _("Personal data deleted."))
            self.message_user(
                request, _("The customer's personal data was deleted."), messages.SUCCESS
            )
            return redirect("admin:customers_customer_change", customer.pk)
        requested = customer.deletion_requested_at
        return render_form_page(
            self,
            request,
            form=form,
            obj=customer,
            title=_("Delete personal data"),
            submit_label=_("Delete personal data"),
            intro=(
                _("The customer asked for deletion on %(date)s.")
                % {"date": requested.date().isoformat()}
                if requested
                else _("The customer has not asked for deletion.")
            ),
        )

    def enroll_view(self, request, object_id):
        customer = self.get_object(request, unquote(object_id))
        if customer is None:
            raise Http404
        if not (
            self.has_change_permission(request, customer)
            and request.user.has_perm("programs.add_membership")
        ):
            raise PermissionDenied
        form = CustomerEnrollForm(
            request.POST if request.method == "POST" else None, customer=customer
        )
        if form.is_valid():
            try:
                membership, _created = membership_enroll(
                    customer=customer, program=form.cleaned_data["program"]
                )
            except LoyaltyError as error:
                add_domain_error(form, error)
            else:
                self.message_user(
                    request,
                    _("Enrolled in %(program)s.") % {"program": membership.program.name},
                    messages.SUCCESS,
                )
                return redirect("admin:customers_customer_change", customer.pk)
        return render_form_page(
            self,
            request,
            form=form,
            obj=customer,
            title=_("Enroll in a program"),
            submit_label=_("Enroll"),
        )
