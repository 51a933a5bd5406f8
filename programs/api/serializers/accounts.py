"""Shared accounts (business, household): input and output of ``/accounts``."""

from drf_spectacular.drainage import set_override
from rest_framework import serializers

from programs.api.serializers.base import INVISIBLE_CHARACTERS, IdField, StrictSerializer
from programs.api.serializers.members import TierSerializer
from programs.models import AccountKind, AccountRole, AccountStatus, InvitationStatus

LIMIT_MAX = 2_147_483_647


class PathIdField(IdField):
    """An id that can stand in a URL path: no blanks and no '/' either."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        schema = {"type": "string", "pattern": rf"^[^\s/{INVISIBLE_CHARACTERS}]*$"}
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        set_override(self, "field", schema)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if any(c.isspace() or c == "/" for c in value):
            raise serializers.ValidationError("No spaces or '/'.", code="invalid")
        return value


class NameField(serializers.CharField):
    """A name that is not only blanks (the schema says so too)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        set_override(
            self,
            "field",
            {"type": "string", "minLength": 1, "maxLength": self.max_length, "pattern": r"\S"},
        )


class AccountInput(StrictSerializer):
    kind = serializers.ChoiceField(choices=AccountKind.choices)
    name = NameField(max_length=200, help_text="The company's or household's name.")
    program = serializers.SlugField(max_length=50, help_text="The program's slug.")
    external_id = PathIdField(
        required=False,
        allow_blank=True,
        default="",
        max_length=100,
        help_text="Your own id of the account (e.g. your customer number), unique among your "
        "accounts; no spaces or '/'. `GET /accounts/{account}` finds the account by it.",
    )
    manager = IdField(
        required=False,
        max_length=100,
        help_text="Your member's external id: joins at once as owner (business) or head "
        "(household).",
    )
    vat_id = serializers.CharField(required=False, allow_blank=True, max_length=20, default="")
    street = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    postal_code = serializers.CharField(required=False, allow_blank=True, max_length=20, default="")
    city = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    country = serializers.RegexField(
        r"^[A-Z]{2}$", required=False, default="DE", help_text="ISO 3166 code; default DE."
    )
    requires_po_reference = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Business accounts only: purchases without `po_reference` are refused "
        "(422 `po_reference_required`).",
    )


class AccountMemberInput(StrictSerializer):
    member = IdField(max_length=100, help_text="Your member's external id.")
    role = serializers.ChoiceField(
        choices=AccountRole.choices,
        help_text="business: owner, buyer, viewer; household: head, member.",
    )
    monthly_limit = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=LIMIT_MAX,
        help_text="Points the member may redeem from the account per calendar month; "
        "null or left out: no limit.",
    )


class AccountMemberUpdateInput(StrictSerializer):
    role = serializers.ChoiceField(choices=AccountRole.choices, required=False)
    monthly_limit = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=0,
        max_value=LIMIT_MAX,
        help_text="null: no limit.",
    )

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                "Give `role`, `monthly_limit` or both.", code="empty_body"
            )
        return attrs


class AccountInvitationInput(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=AccountRole.choices)


class AccountCloseInput(StrictSerializer):
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=255, default="", help_text="Kept with it."
    )


class AccountMemberSerializer(serializers.Serializer):
    member = serializers.CharField(
        source="member_external_id",
        allow_null=True,
        help_text="Your external id of the member; null for a member you have not linked.",
    )
    role = serializers.ChoiceField(choices=AccountRole.choices)
    monthly_limit = serializers.IntegerField(allow_null=True)
    joined_at = serializers.DateTimeField()


class AccountBalanceSerializer(serializers.Serializer):
    available = serializers.IntegerField(source="balance", help_text="Spendable points.")
    pending = serializers.IntegerField(help_text="Points still in the return window.")
    held = serializers.IntegerField(help_text="Points held to pay an order, not available.")
    debt = serializers.IntegerField(help_text="Points owed after returns; blocks redeeming.")


class AccountSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField(help_text="Your id of the account; empty if none.")
    kind = serializers.ChoiceField(choices=AccountKind.choices)
    name = serializers.CharField()
    program = serializers.SlugField(source="program.slug")
    status = serializers.ChoiceField(choices=AccountStatus.choices)
    pools = serializers.BooleanField(
        source="program.accounts_pool",
        help_text="true: members' purchases earn into the account's balance and tier.",
    )
    card_number = serializers.CharField(
        source="holder.card_number", help_text="The account's own card (its balance)."
    )
    balance = AccountBalanceSerializer(source="holder")
    tier = TierSerializer(source="holder.tier", allow_null=True)
    vat_id = serializers.CharField()
    street = serializers.CharField()
    postal_code = serializers.CharField()
    city = serializers.CharField()
    country = serializers.CharField()
    requires_po_reference = serializers.BooleanField()
    members = AccountMemberSerializer(
        source="current_members", many=True, help_text="Current members, first joined first."
    )
    created_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)


class AccountInvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    account = serializers.IntegerField(source="account_id")
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=AccountRole.choices)
    status = serializers.ChoiceField(choices=InvitationStatus.choices)
    expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
