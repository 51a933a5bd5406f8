"""Vouchers at the till: a voucher as a partner of its program sees it, and its use."""

from rest_framework import serializers

from programs.api.proofs import ProofInput
from programs.api.serializers.base import StrictSerializer
from programs.vouchers import VoucherStatus, voucher_status


class VoucherStatusField(serializers.ChoiceField):
    """A redemption's status as shown: ``issued`` (usable), ``used``, ``cancelled``, or
    ``expired`` (issued, and past ``expires_at``)."""

    def __init__(self, **kwargs):
        kwargs.setdefault(
            "help_text",
            "`issued`: can be used; `used`; `cancelled` (the points went back); `expired`: "
            "past `expires_at`, can no longer be used nor cancelled.",
        )
        super().__init__(choices=VoucherStatus.choices, source="*", read_only=True, **kwargs)

    def to_representation(self, value):
        return voucher_status(value)


class VoucherRewardSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class VoucherSerializer(serializers.Serializer):
    code = serializers.CharField(source="voucher_code")
    program = serializers.SlugField(source="membership.program.slug")
    reward = VoucherRewardSerializer()
    points = serializers.IntegerField(help_text="The points the member spent on it.")
    status = VoucherStatusField()
    issued_at = serializers.DateTimeField(source="created_at")
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="Valid until this moment (the end of a day); null: no expiry."
    )
    used_at = serializers.DateTimeField(allow_null=True)
    used_by_you = serializers.BooleanField(help_text="True when your API key used it.")
    cancelled_at = serializers.DateTimeField(allow_null=True)
    member = serializers.CharField(
        source="member_external_id",
        allow_null=True,
        help_text="Your external id of the member, null if you have not linked them.",
    )


class VoucherUseInput(StrictSerializer):
    proof = ProofInput(
        required=False,
        help_text="Required: the customer's proof, `code` (the rotating code of the portal's "
        "card page) or `pin`. Without it: 403 `proof_required`.",
    )
