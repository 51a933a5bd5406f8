"""Paying with points: quotes, holds, captures."""

from rest_framework import serializers

from programs.api.proofs import ProofInput
from programs.api.serializers.base import AmountField, IdField, StrictSerializer
from programs.models import HoldStatus
from programs.services.holds import MAX_HOLD_MINUTES

PROGRAM_HELP = "Program slug; may be left out when the member has one program with you."
CURRENCY_HELP = "ISO 4217 code; defaults to, and must match, the program's currency."


class QuoteInput(StrictSerializer):
    program = serializers.SlugField(required=False, max_length=50, help_text=PROGRAM_HELP)
    amount = AmountField(help_text="The amount to pay with points, in the program's currency.")
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, help_text=CURRENCY_HELP)


class QuoteSerializer(serializers.Serializer):
    program = serializers.SlugField(source="membership.program.slug")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    point_value = serializers.DecimalField(
        max_digits=10, decimal_places=4, help_text="What one point is worth."
    )
    points_needed = serializers.IntegerField(
        help_text="Points that pay the whole amount: amount / point_value, rounded up."
    )
    available = serializers.IntegerField(help_text="Points the member can spend now.")
    points_payable = serializers.IntegerField(
        help_text="The points the member can pay with: the fewer of needed and available."
    )
    amount_payable = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        help_text="What `points_payable` pay; hold this amount and take the rest in cash.",
    )
    covers = serializers.BooleanField(help_text="The points pay the whole amount.")


class HoldInput(StrictSerializer):
    program = serializers.SlugField(required=False, max_length=50, help_text=PROGRAM_HELP)
    amount = AmountField(help_text="The amount the held points pay for.")
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, help_text=CURRENCY_HELP)
    order_reference = IdField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="Your order id: a refund of your purchase with this `order_id` gives the "
        "captured points back pro rata.",
    )
    expires_in_minutes = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_HOLD_MINUTES,
        help_text="How long the points stay held unless captured or voided (default 15).",
    )
    proof = ProofInput(
        required=False,
        help_text="Required: the customer's proof that they are at your till, the rotating "
        "code of the portal's card page or their PIN. Without it: 403 `proof_required`.",
    )


class CaptureInput(StrictSerializer):
    amount = AmountField(
        required=False, help_text="The amount to capture (at most the hold's); default all."
    )
    points = serializers.IntegerField(
        required=False, min_value=1, help_text="Or the points to capture (at most those held)."
    )

    def validate(self, attrs):
        if "amount" in attrs and "points" in attrs:
            raise serializers.ValidationError(
                "Give the amount or the points to capture, not both.", code="invalid"
            )
        return attrs


class HoldSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    member = serializers.CharField(source="member_external_id")
    program = serializers.SlugField(source="membership.program.slug")
    status = serializers.ChoiceField(choices=HoldStatus.choices)
    points = serializers.IntegerField(help_text="Points held when placed.")
    points_captured = serializers.IntegerField()
    points_refunded = serializers.IntegerField(
        help_text="Captured points given back by refunds of the order."
    )
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    captured_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    point_value = serializers.DecimalField(max_digits=10, decimal_places=4)
    order_reference = serializers.CharField()
    expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    captured_at = serializers.DateTimeField(allow_null=True)
    voided_at = serializers.DateTimeField(allow_null=True)
    expired_at = serializers.DateTimeField(allow_null=True)
