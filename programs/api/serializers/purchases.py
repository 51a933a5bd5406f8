"""Purchases, the batch envelope and refunds."""

from django.utils import timezone
from rest_framework import serializers

from programs.api.serializers.base import (
    AmountField,
    IpAddressField,
    StrictSerializer,
    decimals_error,
)
from programs.models import PurchaseStatus
from programs.services.purchases import MAX_FUTURE_SKEW

BATCH_LIMIT = 1000


class PurchaseLineInput(StrictSerializer):
    sku = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")
    category = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    unit_price = AmountField(allow_zero=True, help_text="Price of one unit, tax included.")


class PurchaseSignalsInput(StrictSerializer):
    payment_fingerprint = serializers.CharField(
        required=False, allow_blank=True, max_length=128, default=""
    )
    device_id = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")
    ip_address = IpAddressField(required=False, allow_null=True, default=None)


class PurchaseInput(StrictSerializer):
    member = serializers.CharField(max_length=100, help_text="The member's external id.")
    program = serializers.SlugField(
        required=False,
        max_length=50,
        help_text="Program slug; may be left out when the member has one program with you.",
    )
    order_id = serializers.CharField(
        max_length=100, help_text="Your order number; a repeated order id is not counted twice."
    )
    amount = AmountField(help_text="Total paid, > 0, at most the currency's decimals.")
    currency = serializers.RegexField(
        r"^[A-Z]{3}$",
        required=False,
        help_text="ISO 4217 code; defaults to, and must match, the program's currency.",
    )
    occurred_at = serializers.DateTimeField(
        required=False, help_text="When the purchase happened; defaults to now."
    )
    lines = PurchaseLineInput(
        many=True,
        required=False,
        max_length=500,
        help_text="Line items; if given, they must add up to the amount.",
    )
    signals = PurchaseSignalsInput(
        required=False, help_text="Signals for the referral fraud checks."
    )

    def validate_occurred_at(self, value):
        if value > timezone.now() + MAX_FUTURE_SKEW:
            raise serializers.ValidationError("Must not lie in the future.", code="future")
        return value


def money_errors(attrs: dict, currency: str) -> dict:
    """Amounts with more decimals than ``currency`` has, as serializer errors."""
    errors: dict = {}
    if message := decimals_error(attrs.get("amount"), currency):
        errors["amount"] = [message]
    for index, line in enumerate(attrs.get("lines", [])):
        if message := decimals_error(line["unit_price"], currency):
            errors.setdefault("lines", {})[index] = {"unit_price": [message]}
    return errors


class PurchaseBatchInput(StrictSerializer):
    """Each item is validated on its own; see ``PurchaseInput``."""

    purchases = serializers.ListField(
        child=serializers.JSONField(),
        min_length=1,
        max_length=BATCH_LIMIT,
        help_text=f"1 to {BATCH_LIMIT} purchases, each as for POST /purchases.",
    )


class PurchaseBatchSchema(serializers.Serializer):
    """The batch body as documented (validation happens per item)."""

    purchases = serializers.ListField(child=PurchaseInput(), min_length=1, max_length=BATCH_LIMIT)


class PurchaseLineSerializer(serializers.Serializer):
    line_no = serializers.IntegerField()
    sku = serializers.CharField()
    category = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    refunded_quantity = serializers.IntegerField()


class RefundSerializer(serializers.Serializer):
    refund_id = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    lines = serializers.ListField(child=serializers.DictField(), help_text="[{line_no, quantity}]")
    points_reversed = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class PurchaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    member = serializers.CharField(source="member_external_id", allow_null=True)
    program = serializers.SlugField(source="program.slug")
    order_id = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=PurchaseStatus.choices)
    status_reason = serializers.CharField()
    points_expected = serializers.IntegerField(
        help_text="Points the purchase is expected to earn, computed when it was received."
    )
    points_awarded = serializers.IntegerField(
        allow_null=True, help_text="Points awarded by the worker (null until then)."
    )
    refunded_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    points_reversed = serializers.IntegerField()
    received_at = serializers.DateTimeField()
    processed_at = serializers.DateTimeField(allow_null=True)
    lines = PurchaseLineSerializer(many=True, source="lines.all")
    refunds = RefundSerializer(many=True, source="refunds.all")


class BatchItemPurchaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order_id = serializers.CharField()
    status = serializers.ChoiceField(choices=PurchaseStatus.choices)
    points_expected = serializers.IntegerField()


class BatchItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the item in the request.")
    result = serializers.ChoiceField(choices=["created", "duplicate", "error"])
    purchase = BatchItemPurchaseSerializer(required=False, help_text="Unless an error.")
    problem = serializers.DictField(
        required=False, help_text="Problem details (as for a single request) if an error."
    )


class BatchSummarySerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    error = serializers.IntegerField()


class PurchaseBatchResultSerializer(serializers.Serializer):
    results = BatchItemResultSerializer(many=True)
    summary = BatchSummarySerializer()


class RefundLineInput(StrictSerializer):
    line_no = serializers.IntegerField(min_value=1, max_value=32767)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)


class RefundInput(StrictSerializer):
    refund_id = serializers.CharField(
        max_length=100, help_text="Your id of the return; a repeated id is not counted twice."
    )
    amount = AmountField(
        required=False, help_text="Refunded amount; leave out when giving the returned lines."
    )
    lines = RefundLineInput(
        many=True,
        required=False,
        min_length=1,
        max_length=500,
        help_text="Returned lines; their value is the refunded amount.",
    )

    def validate(self, attrs):
        if "amount" not in attrs and not attrs.get("lines"):
            raise serializers.ValidationError(
                "Give the returned lines or an amount.", code="amount_or_lines"
            )
        return attrs


class RefundResultSerializer(RefundSerializer):
    purchase = PurchaseSerializer()
