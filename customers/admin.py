"""Staff admin of the customers app itself: communication preferences, read-only, and
notes, which staff add but never change (the customer admin, with its memberships, is the
engine's: ``programs/admin/customers.py``)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from customers.models import CommunicationPreferences, CustomerNote


@admin.register(CustomerNote)
class CustomerNoteAdmin(admin.ModelAdmin):
    """The add page is reached from a customer's page ("Add a note"), customer filled in."""

    list_display = ("created_at", "customer", "author", "text")
    list_select_related = ("customer", "author")
    search_fields = ("customer__email", "customer__last_name", "text")
    search_help_text = _("The customer's e-mail or last name, or words of the note.")
    autocomplete_fields = ("customer",)
    fields = ("customer", "text")

    def get_readonly_fields(self, request, obj=None):
        return ("customer", "text", "author", "created_at") if obj else ()

    def get_fields(self, request, obj=None):
        return ("customer", "text", "author", "created_at") if obj else self.fields

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.author = request.user
        super().save_model(request, obj, form, change)


@admin.register(CommunicationPreferences)
class CommunicationPreferencesAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
