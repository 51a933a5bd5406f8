"""API keys and webhooks in the staff admin: create a key (shown once), revoke keys;
subscribe partners to events, watch deliveries and replay them.

Registered when imported; add ``from programs.api import admin as _api_admin  # noqa: F401``
to ``programs/admin/__init__.py``.
"""

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from programs.models import (
    ApiKey,
    ApiKeyScope,
    WebhookDelivery,
    WebhookEventType,
    WebhookSubscription,
)
from programs.services.api_keys import (
    ANNOUNCE_DAYS,
    api_key_create,
    api_key_revoke,
    api_keys_changed,
    api_keys_expiring,
)
from programs.services.webhooks import webhook_delivery_replay, webhook_subscription_create


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("scopes"),
        choices=ApiKeyScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[ApiKeyScope.READ],
    )

    class Meta:
        model = ApiKey
        fields = ["partner", "name", "scopes", "expires_at"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = [
        "prefix",
        "name",
        "partner",
        "scope_list",
        "active",
        "created_at",
        "expires_at",
        "last_used_at",
    ]
    list_filter = [
        "partner",
        ("revoked_at", admin.EmptyFieldListFilter),
        ("expires_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["prefix", "name", "partner__name"]
    list_select_related = ["partner"]
    readonly_fields = [
        "prefix",
        "created_at",
        "created_by",
        "last_used_at",
        "revoked_at",
        "expiry_announced_at",
    ]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["partner", *self.readonly_fields]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["partner", "name", "scopes", "expires_at"]
        return ["partner", "name", "scopes", "expires_at", *self.readonly_fields]

    @admin.display(description=_("scopes"))
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes)

    @admin.display(description=_("active"), boolean=True)
    def active(self, obj: ApiKey) -> bool:
        return obj.is_active

    def changelist_view(self, request, extra_context=None):
        expiring = api_keys_expiring(now=timezone.now())
        if expiring:
            self.message_user(
                request,
                _("Expiring within %(days)d days: %(keys)s.")
                % {"days": ANNOUNCE_DAYS, "keys": ", ".join(str(k) for k in expiring)},
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the key stays for the record

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            api_keys_changed([obj.prefix])  # new scopes apply to the next request
            return
        key, plaintext = api_key_create(
            partner=form.cleaned_data["partner"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            created_by=request.user,
            expires_at=form.cleaned_data.get("expires_at"),
        )
        obj.pk, obj.prefix, obj.created_at = key.pk, key.prefix, key.created_at
        messages.warning(
            request,
            _(
                "The new API key is %(key)s - copy it now: it is stored only as a hash "
                "and cannot be shown again."
            )
            % {"key": plaintext},
        )

    @admin.action(description=_("Revoke selected API keys"), permissions=["change"])
    def revoke(self, request, queryset):
        revoked = sum(api_key_revoke(api_key=key) for key in queryset)
        self.message_user(
            request,
            ngettext("%d key revoked.", "%d keys revoked.", revoked) % revoked,
            messages.SUCCESS,
        )


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("events"), choices=WebhookEventType.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookSubscription
        fields = ["partner", "url", "events", "is_active"]


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ["url", "partner", "event_list", "is_active", "created_at"]
    list_filter = ["partner", "is_active"]
    list_select_related = ["partner"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["partner", "url", "events"]
        return ["partner", "url", "events", "is_active", "secret", "created_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["partner", "secret", "created_at"]

    @admin.display(description=_("events"))
    def event_list(self, obj: WebhookSubscription) -> str:
        return ", ".join(obj.events)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = webhook_subscription_create(
            partner=form.cleaned_data["partner"],
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
        )
        obj.pk, obj.secret, obj.created_at = created.pk, created.secret, created.created_at


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "event_type",
        "subscription",
        "state",
        "attempts",
        "response_status",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["state", "event__type", "subscription__partner"]
    search_fields = ["event__event_id"]
    list_select_related = ["event", "subscription__partner"]
    readonly_fields = [
        "event",
        "subscription",
        "state",
        "attempts",
        "next_attempt_at",
        "response_status",
        "last_error",
        "delivered_at",
        "created_at",
        "payload",
        "log",
    ]
    actions = ["replay"]

    @admin.display(description=_("event"), ordering="event__type")
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.type

    @admin.display(description=_("payload"))
    def payload(self, obj: WebhookDelivery):
        return obj.event.payload

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # written by the worker; staff look and replay

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Send again"), permissions=["replay"])
    def replay(self, request, queryset):
        count = 0
        for delivery in queryset:
            webhook_delivery_replay(delivery=delivery)
            count += 1
        self.message_user(
            request,
            ngettext("%d delivery queued again.", "%d deliveries queued again.", count) % count,
            messages.SUCCESS,
        )

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("programs.change_webhookdelivery")
