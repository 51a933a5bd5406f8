from django.contrib import admin

from loyalty_site.portal.models import EmailConfirmation


@admin.register(EmailConfirmation)
class EmailConfirmationAdmin(admin.ModelAdmin):
    list_display = ["email", "created_at", "confirmed_at", "program"]
    list_filter = ["confirmed_at"]
    search_fields = ["email"]
    readonly_fields = ["user", "email", "program", "referral_code", "created_at", "confirmed_at"]

    def has_add_permission(self, request):
        return False
