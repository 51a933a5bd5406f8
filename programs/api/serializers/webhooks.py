"""Webhook subscriptions a partner manages itself."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from programs.api.serializers.base import StrictSerializer
from programs.models import WebhookEventType
from programs.services.webhooks import webhook_url_problem


@extend_schema_field(
    {"type": "string", "format": "uri", "pattern": "^https?://[^/?#]+", "maxLength": 500}
)
class HttpUrlField(serializers.URLField):
    """An http(s) URL (other schemes are refused)."""


class WebhookSubscriptionInput(StrictSerializer):
    url = HttpUrlField(
        max_length=500,
        help_text="Where events are POSTed: https, on a public address (http and local "
        "addresses only on a development server).",
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEventType.values),
        min_length=1,
        max_length=len(WebhookEventType.values),
        help_text="The event types to send.",
    )
    is_active = serializers.BooleanField(
        required=False, default=True, help_text="false pauses deliveries."
    )

    def validate_url(self, value: str) -> str:
        if message := webhook_url_problem(value):
            raise serializers.ValidationError(message, code="url_not_allowed")
        return value


class WebhookSubscriptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.ChoiceField(WebhookEventType.values))
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class WebhookSubscriptionSecretSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (`whsec_...`); shown only here: store it now."
    )
