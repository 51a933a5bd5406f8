"""Points given from one member to another, or to a shared account: ``/transfers``."""

from rest_framework import serializers

from programs.api.serializers.base import IdField, QuerySerializer, StrictSerializer
from programs.models import TransferStatus

POINTS_MAX = 2_147_483_647


class TransferInput(StrictSerializer):
    from_member = IdField(max_length=100, help_text="Your external id of the giving member.")
    to_member = IdField(
        required=False,
        max_length=100,
        help_text="Your external id of the receiving member (or give `to_account`).",
    )
    to_account = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text="The receiving shared account's `id`, one you created (or give `to_member`).",
    )
    points = serializers.IntegerField(min_value=1, max_value=POINTS_MAX)
    program = serializers.SlugField(
        required=False,
        max_length=50,
        help_text="Program slug; may be left out when the member has one program with you.",
    )
    message = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")

    def validate(self, attrs):
        if ("to_member" in attrs) == ("to_account" in attrs):
            raise serializers.ValidationError(
                "Give either `to_member` or `to_account`.", code="recipient_required"
            )
        return attrs


class TransferListQuery(QuerySerializer):
    member = IdField(max_length=100)
    program = serializers.SlugField(required=False, max_length=50)


class TransferSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    program = serializers.SlugField(source="program.slug")
    from_member = serializers.CharField(
        source="sender_external_id",
        allow_null=True,
        help_text="Your external id of the giver; null if not your member (or an account).",
    )
    from_account = serializers.IntegerField(
        source="sender_account_id",
        allow_null=True,
        help_text="The giving account's id when one of your accounts gave (on closing).",
    )
    to_member = serializers.CharField(
        source="recipient_external_id",
        allow_null=True,
        help_text="Your external id of the recipient; null if not your member.",
    )
    to_account = serializers.IntegerField(
        source="recipient_account_id",
        allow_null=True,
        help_text="The receiving account's id, if it is one you created.",
    )
    points = serializers.IntegerField()
    status = serializers.ChoiceField(
        choices=TransferStatus.choices,
        help_text="`done`: moved; `review`: waits for our staff, nothing moved yet; "
        "`rejected`; `reversed` by our staff.",
    )
    message = serializers.CharField()
    created_at = serializers.DateTimeField()
    done_at = serializers.DateTimeField(allow_null=True)
    reversed_at = serializers.DateTimeField(allow_null=True)
