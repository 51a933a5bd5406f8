"""Webhook subscriptions managed by the partner itself: list, create (the signing secret
is shown once), change, delete, rotate the secret. Scope: write, for reading too."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from programs.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from programs.api.schema import problems
from programs.api.serializers.webhooks import (
    WebhookSubscriptionInput,
    WebhookSubscriptionSecretSerializer,
    WebhookSubscriptionSerializer,
)
from programs.api.views.base import PartnerAPIView
from programs.errors import SubscriptionLimitReached
from programs.models import ApiKeyScope, WebhookSubscription
from programs.services.webhooks import (
    MAX_SUBSCRIPTIONS_PER_PARTNER,
    webhook_secret_rotate,
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_update,
)

TAG = "Webhooks"
WEBHOOK_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)
WRITE_ALWAYS = dict.fromkeys(("GET", "HEAD", "POST", "PATCH", "DELETE"), ApiKeyScope.WRITE)
EXAMPLE = OpenApiExample(
    "subscribe",
    value={"url": "https://shop.example.com/hooks/loyalty", "events": ["points.awarded"]},
    request_only=True,
)


class PartnerWebhookView(PartnerAPIView):
    scopes = WRITE_ALWAYS

    def get_queryset(self):
        return WebhookSubscription.objects.filter(partner=self.partner).order_by("pk")

    def subscription(self, subscription_id: int) -> WebhookSubscription:
        found = self.get_queryset().filter(pk=subscription_id).first()
        if found is None:
            raise NotFound(
                f"You have no webhook subscription with id {subscription_id}.",
                "webhook_not_found",
            )
        return found


class WebhookListView(PartnerWebhookView):
    serializer_class = WebhookSubscriptionSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="webhooks_list",
        summary="Your webhook subscriptions",
        description="Without their secrets. Scope: write.",
        responses={200: WebhookSubscriptionSerializer(many=True), **problems(403)},
    )
    def get(self, request):
        return Response(WebhookSubscriptionSerializer(self.get_queryset(), many=True).data)

    @extend_schema(
        tags=[TAG],
        operation_id="webhooks_create",
        summary="Subscribe a URL to events",
        description=(
            "Answers 201 with the subscription and its signing `secret`, the only time the "
            "secret is shown (lost: rotate it). The URL must be https and resolve to public "
            "addresses only (a development server with DEBUG also takes http and local "
            f"addresses). At most {MAX_SUBSCRIPTIONS_PER_PARTNER} subscriptions. "
            "Scope: write."
        ),
        parameters=[IDEMPOTENCY_PARAMETER],
        request=WebhookSubscriptionInput,
        examples=[EXAMPLE],
        responses={201: WebhookSubscriptionSecretSerializer, **problems(400, 403, 409, 422)},
    )
    @idempotent
    def post(self, request):
        serializer = WebhookSubscriptionInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            subscription = webhook_subscription_create(
                partner=self.partner,
                url=data["url"],
                events=data["events"],
                is_active=data["is_active"],
                limit=MAX_SUBSCRIPTIONS_PER_PARTNER,
            )
        except SubscriptionLimitReached:
            raise ValidationError(
                {
                    "non_field_errors": [
                        f"You have {MAX_SUBSCRIPTIONS_PER_PARTNER} subscriptions, the most "
                        "allowed; delete one or add events to an existing one."
                    ]
                },
                code="subscription_limit_reached",
            ) from None
        return Response(
            WebhookSubscriptionSecretSerializer(subscription).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:webhook-detail", kwargs={"id": subscription.pk})},
        )


class WebhookDetailView(PartnerWebhookView):
    serializer_class = WebhookSubscriptionSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="webhooks_retrieve",
        summary="One of your webhook subscriptions",
        parameters=[WEBHOOK_ID],
        responses={200: WebhookSubscriptionSerializer, **problems(403, 404)},
    )
    def get(self, request, id: int):
        return Response(WebhookSubscriptionSerializer(self.subscription(id)).data)

    @extend_schema(
        tags=[TAG],
        operation_id="webhooks_update",
        summary="Change the URL, the events, or pause",
        description="Give any of `url`, `events`, `is_active`. Deliveries not yet sent go "
        "to the new URL. Scope: write.",
        parameters=[WEBHOOK_ID],
        request=WebhookSubscriptionInput(partial=True),
        responses={200: WebhookSubscriptionSerializer, **problems(400, 403, 404)},
    )
    def patch(self, request, id: int):
        subscription = self.subscription(id)
        serializer = WebhookSubscriptionInput(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        webhook_subscription_update(
            subscription=subscription,
            url=data.get("url"),
            events=data.get("events"),
            is_active=data.get("is_active"),
        )
        return Response(WebhookSubscriptionSerializer(subscription).data)

    @extend_schema(
        tags=[TAG],
        operation_id="webhooks_destroy",
        summary="Delete a subscription",
        description="Nothing more is sent to it, not even pending retries. Scope: write.",
        parameters=[WEBHOOK_ID],
        responses={204: None, **problems(403, 404)},
    )
    def delete(self, request, id: int):
        webhook_subscription_delete(subscription=self.subscription(id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookSecretRotateView(PartnerWebhookView):
    serializer_class = WebhookSubscriptionSecretSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="webhooks_rotate_secret",
        summary="Replace the signing secret",
        description="Answers with the new `secret` (shown only here). It signs every "
        "delivery from now on, retries of older events too; the old secret is void at once. "
        "Scope: write.",
        parameters=[WEBHOOK_ID, IDEMPOTENCY_PARAMETER],
        request=None,
        responses={200: WebhookSubscriptionSecretSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request, id: int):
        subscription = webhook_secret_rotate(subscription=self.subscription(id))
        return Response(WebhookSubscriptionSecretSerializer(subscription).data)
