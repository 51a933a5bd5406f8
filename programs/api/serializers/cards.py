"""Member cards: what a till learns from a card number, and the link by card."""

import re

from drf_spectacular.drainage import set_override
from rest_framework import serializers

from programs.api.proofs import ProofInput
from programs.api.serializers.base import INVISIBLE_CHARACTERS, IdField, StrictSerializer
from programs.api.serializers.members import TierSerializer
from programs.models import MembershipStatus

EXTERNAL_ID_PATTERN = rf"^[^\s/{INVISIBLE_CHARACTERS}]{{1,100}}$"
_EXTERNAL_ID = re.compile(EXTERNAL_ID_PATTERN)


class ExternalIdField(IdField):
    """Your id of a member, as in the path of ``/members/{external_id}``: 1 to 100
    characters, no spaces or '/' (nothing is trimmed)."""

    default_error_messages = {"invalid": "1 to 100 characters, without spaces or '/'."}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 100)
        super().__init__(trim_whitespace=False, **kwargs)
        set_override(self, "field", {"type": "string", "pattern": EXTERNAL_ID_PATTERN})

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not _EXTERNAL_ID.match(value):
            self.fail("invalid")
        return value


class CardSerializer(serializers.Serializer):
    card_number = serializers.CharField(help_text="16 digits, the last a check digit.")
    program = serializers.SlugField(source="program.slug")
    status = serializers.ChoiceField(
        choices=MembershipStatus.choices,
        help_text="Only an active membership earns and spends points.",
    )
    tier = TierSerializer(allow_null=True)
    available = serializers.IntegerField(source="balance", help_text="Spendable points.")
    held = serializers.IntegerField(help_text="Points held to pay an order, not available.")
    debt = serializers.IntegerField(help_text="Points owed after returns; blocks spending.")
    external_id = serializers.CharField(
        source="member_external_id",
        allow_null=True,
        help_text="Your external id of this member, or null if you have not linked them "
        "(link with `POST /cards/{number}/link`).",
    )
    linked = serializers.SerializerMethodField(
        help_text="You have linked this member: `GET /members/{external_id}` shows them."
    )

    def get_linked(self, membership) -> bool:
        return membership.member_external_id is not None


class CardLinkInput(StrictSerializer):
    external_id = ExternalIdField(help_text="Your own id for this member from now on.")
    proof = ProofInput(
        required=False,
        help_text="Required: the customer's proof that they are at your till, the rotating "
        "code of the portal's card page or their PIN. Without it: 403 `proof_required`.",
    )
