"""Reward catalogue, redemptions, actions."""

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from programs.api.serializers.base import IdField, StrictSerializer
from programs.api.serializers.vouchers import VoucherStatusField
from programs.limits import MAX_FUTURE_SKEW
from programs.models import Account

UNAVAILABLE_REASONS = [
    "membership_inactive",
    "tier_too_low",
    "out_of_stock",
    "redemption_limit_reached",
    "negative_balance",
    "insufficient_points",
]


class CatalogueItemSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="reward.id")
    program = serializers.SlugField(source="reward.program.slug")
    name = serializers.CharField(source="reward.name")
    description = serializers.CharField(source="reward.description")
    points_cost = serializers.IntegerField(source="reward.points_cost")
    min_tier = serializers.CharField(source="reward.min_tier.name", allow_null=True)
    available_until = serializers.DateTimeField(source="reward.active_until", allow_null=True)
    in_stock = serializers.BooleanField()
    affordable = serializers.BooleanField(help_text="Enough available points and no debt.")
    tier_locked = serializers.BooleanField(help_text="The member's tier is too low.")
    limit_reached = serializers.BooleanField(help_text="The per-member limit is used up.")
    redeemable = serializers.BooleanField()
    unavailable_reason = serializers.ChoiceField(
        choices=UNAVAILABLE_REASONS,
        allow_null=True,
        help_text="Why it cannot be redeemed now; the same code the redemption would fail with.",
    )


class RedemptionInput(StrictSerializer):
    reward = serializers.IntegerField(min_value=1, help_text="The reward's id (see the catalogue).")
    from_account = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: redeem from the balance of the member's shared account, as far as "
        "their role (viewers may not: 403 `account_role_refused`) and monthly limit allow.",
    )


class RewardRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class RedemptionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    member = serializers.CharField(source="member_external_id")
    program = serializers.SlugField(source="membership.program.slug")
    reward = RewardRefSerializer()
    points = serializers.IntegerField()
    voucher_code = serializers.CharField()
    status = VoucherStatusField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="The voucher is valid until then; null: no expiry."
    )
    used_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    account = serializers.SerializerMethodField(
        help_text="Redeemed from this shared account's balance (its `id`, if you created it); "
        "null for the member's own points."
    )

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_account(self, redemption) -> int | None:
        if redemption.placed_by_id is None:
            return None
        return (
            Account.objects.filter(
                holder_id=redemption.membership_id,
                created_by_partner_id=self.context.get("partner_id", -1),
            )
            .values_list("pk", flat=True)
            .first()
        )


class ActionInput(StrictSerializer):
    program = serializers.SlugField(
        required=False,
        max_length=50,
        help_text="Program slug; may be left out when the member has one program with you.",
    )
    code = serializers.SlugField(max_length=50, help_text="The action rule's code.")
    reference = IdField(
        max_length=100, help_text="Your id of the action; a repeated reference earns once."
    )
    occurred_at = serializers.DateTimeField(required=False)

    def validate_occurred_at(self, value):
        if value > timezone.now() + MAX_FUTURE_SKEW:
            raise serializers.ValidationError("Must not lie in the future.", code="future")
        return value


class ActionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    program = serializers.SlugField(source="membership.program.slug")
    code = serializers.SlugField(source="rule.code")
    reference = serializers.CharField()
    points = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
