"""Staff admin for notifications: read-only, with a resend action."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from programs.notifications.emails import notifications_email_resend
from programs.notifications.models import Notification


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadState(admin.SimpleListFilter):
    title = _("read")
    parameter_name = "read"

    def lookups(self, request, model_admin):
        return [("yes", _("Read")), ("no", _("Unread"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(read_at__isnull=self.value() == "no")
        return queryset


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "customer",
        "kind",
        "email_state",
        "email_attempts",
        "email_sent_at",
        "read_at",
    )
    list_filter = ("kind", "email_state", ReadState, "created_at")
    search_fields = ("customer__email", "customer__last_name", "cause_key")
    search_help_text = _("Customer e-mail or name, or the cause.")
    list_select_related = ("customer",)
    show_full_result_count = False
    date_hierarchy = "created_at"
    readonly_fields = (
        "customer",
        "membership",
        "kind",
        "cause_key",
        "text",
        "params",
        "created_at",
        "read_at",
        "email_state",
        "email_attempts",
        "email_last_error",
        "email_next_attempt_at",
        "email_sent_at",
    )
    fields = readonly_fields
    actions = ["resend_email"]

    @admin.display(description=_("text"))
    def text(self, obj):
        message = obj.message
        return f"{message.title}: {message.body}"

    def has_resend_permission(self, request):
        return request.user.has_perm("notifications.view_notification") and request.user.is_staff

    @admin.action(description=_("Send the e-mail again"), permissions=["resend"])
    def resend_email(self, request, queryset):
        count = notifications_email_resend(queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            ngettext(
                "%(count)d e-mail queued (preferences still apply).",
                "%(count)d e-mails queued (preferences still apply).",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )
