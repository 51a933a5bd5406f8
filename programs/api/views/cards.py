"""Member cards at a till: look a member up by card number, link them with their proof."""

from django.db import transaction
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from programs.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from programs.api.proofs import proof_refusal
from programs.api.schema import problems
from programs.api.serializers.cards import CardLinkInput, CardSerializer
from programs.api.serializers.members import MemberSerializer
from programs.api.views.base import PartnerAPIView
from programs.cards import card_number_clean
from programs.errors import CardNumberInvalid
from programs.models import Membership
from programs.selectors import partner_card, partner_member_get
from programs.services.card_links import card_link_create, card_link_existing

TAG = "Member cards"
CARD_NUMBER = OpenApiParameter(
    "number",
    {"type": "string", "pattern": "^[0-9][0-9 .-]{14,46}[0-9]$"},
    OpenApiParameter.PATH,
    description="The card number: 16 digits, as printed (groups of four separated by "
    "spaces or hyphens are fine) or as its QR code holds it.",
)


def card_get(view: PartnerAPIView, number: str) -> Membership:
    """The card's membership if it is in one of the partner's programs. Any other card
    answers exactly as a number that does not exist."""
    card_number = card_number_clean(number)
    if card_number is None:
        raise CardNumberInvalid()
    membership = partner_card(partner=view.partner, card_number=card_number)
    if membership is None:
        raise NotFound("No member of your programs has this card.", "card_not_found")
    return membership


class CardDetailView(PartnerAPIView):
    serializer_class = CardSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="cards_retrieve",
        summary="Look a member up by card number",
        description="What a till needs after scanning or typing a member card: the program, "
        "tier and points, and your external id of the member if you have linked them. "
        "A card of another program answers 404 `card_not_found`, as one that does not "
        "exist; a mistyped number (the check digit does not match) 400 "
        "`card_number_invalid`. A card number identifies; to spend points the customer "
        "also shows their proof (`proof` in a hold). Scope: read.",
        parameters=[CARD_NUMBER],
        responses={200: CardSerializer, **problems(400, 404)},
    )
    def get(self, request, number: str):
        return Response(CardSerializer(card_get(self, number)).data)


class CardLinkView(PartnerAPIView):
    serializer_class = MemberSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="cards_link",
        summary="Link the card's member to you, with their proof",
        description="Makes the card's customer your member under `external_id` (`201`), "
        "when the customer proves they are at your till: the rotating code of the "
        "portal's card page or their PIN in `proof` (else 403 `proof_required`, "
        "`proof_invalid`, `pin_not_set` or `pin_locked`). Sending the same link again "
        "answers it (`200`) without a new proof. 409 `member_already_linked`: you know "
        "this customer under another external id; 409 `external_id_taken`: your external "
        "id names another member. The answer is the member, as `GET /members/{external_id}`"
        " shows them. Scope: write.",
        parameters=[CARD_NUMBER, IDEMPOTENCY_PARAMETER],
        request=CardLinkInput,
        examples=[
            OpenApiExample(
                "link",
                value={"external_id": "c-1001", "proof": {"code": "4063671630951477.80204217"}},
                request_only=True,
            )
        ],
        responses={
            201: MemberSerializer,
            200: MemberSerializer,
            **problems(400, 403, 404, 409),
        },
    )
    @idempotent
    def post(self, request, number: str):
        membership = card_get(self, number)
        serializer = CardLinkInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        external_id = data["external_id"]
        with transaction.atomic():
            link = card_link_existing(
                partner=self.partner, membership=membership, external_id=external_id
            )
            created = link is None
            if created:
                # Before any write; a refusal commits what the check recorded (a wrong PIN).
                refusal = proof_refusal(request, membership, data.get("proof"))
                if refusal is not None:
                    return refusal
                card_link_create(
                    partner=self.partner, membership=membership, external_id=external_id
                )
        link = partner_member_get(partner=self.partner, external_id=external_id)
        return Response(
            MemberSerializer(link).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
