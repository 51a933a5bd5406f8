"""Staff admin of the customers app itself: communication preferences, read-only (the
customer admin, with its memberships, is the engine's: ``programs/admin/customers.py``)."""

from django.contrib import admin

from customers.models import CommunicationPreferences


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
