"""Paying with points at a till: quote, hold, capture, void, read a hold."""

from datetime import timedelta

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from programs.api.idempotency import HEADER, IDEMPOTENCY_PARAMETER, idempotent
from programs.api.proofs import proof_refusal
from programs.api.schema import EXTERNAL_ID, problems
from programs.api.serializers.base import decimals_error
from programs.api.serializers.holds import (
    CaptureInput,
    HoldInput,
    HoldSerializer,
    QuoteInput,
    QuoteSerializer,
)
from programs.api.views.base import PartnerAPIView
from programs.models import ApiKeyScope, Membership, PointsHold
from programs.selectors import partner_holds
from programs.services.hold_quotes import hold_quote
from programs.services.holds import hold_capture, hold_place, hold_void

TAG = "Paying with points"
HOLD_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)
HOLD_KEY_PARAMETER = OpenApiParameter(
    HEADER,
    IDEMPOTENCY_PARAMETER.type,
    OpenApiParameter.HEADER,
    required=True,
    description="Required here: your unique id of this hold (e.g. a UUID), 1-255 printable "
    "ASCII characters. Sending it again with the same body returns the same hold, so a "
    "till can retry safely; another body under the same key is refused (422 "
    "`idempotency_key_reused`, or 409 `idempotency_conflict` after 24 hours).",
)


def _decimals_check(data: dict, membership: Membership) -> None:
    if message := decimals_error(data.get("amount"), membership.program.currency):
        raise ValidationError({"amount": [message]}, code="max_decimal_places")


def hold_get(view: PartnerAPIView, hold_id: int) -> PointsHold:
    hold = partner_holds(partner=view.partner).filter(pk=hold_id).first()
    if hold is None:
        raise NotFound(f"You have no hold with id {hold_id}.", "hold_not_found")
    return hold


class MemberQuoteView(PartnerAPIView):
    serializer_class = QuoteSerializer
    scopes = {"POST": ApiKeyScope.READ}

    @extend_schema(
        tags=[TAG],
        operation_id="members_quotes_create",
        summary="How many points pay an amount",
        description="Points needed for `amount` (amount / the program's point value, rounded "
        "up), what the member can spend now, and how much of the amount those points pay. "
        "Changes nothing. Scope: read.",
        parameters=[EXTERNAL_ID, IDEMPOTENCY_PARAMETER],
        request=QuoteInput,
        examples=[OpenApiExample("quote", value={"amount": "12.50"}, request_only=True)],
        responses={200: QuoteSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request, external_id: str):
        link = self.member_link(external_id)
        serializer = QuoteInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        membership = self.member_membership(link, data.get("program"))
        _decimals_check(data, membership)
        quote = hold_quote(
            membership=membership, amount=data["amount"], currency=data.get("currency")
        )
        return Response(QuoteSerializer(quote).data)


class MemberHoldCreateView(PartnerAPIView):
    serializer_class = HoldSerializer
    scopes = {"POST": ApiKeyScope.REDEEM}

    @extend_schema(
        tags=[TAG],
        operation_id="members_holds_create",
        summary="Hold points to pay an amount",
        description="Reserves the points that pay `amount` (see the quote) until you capture "
        "or void the hold, or it expires (`expires_at`, 15 minutes unless "
        "`expires_in_minutes` says otherwise). Held points are out of the available "
        "balance; never more than it (409 `insufficient_points`). Needs an "
        "`Idempotency-Key` and the customer's `proof` (the rotating code of the portal's "
        "card page, or their PIN; else 403 `proof_required`, `proof_invalid`, `pin_not_set` "
        "or `pin_locked`). A retry under the same key is answered from the first "
        "response, without checking the proof again. Scope: redeem.",
        parameters=[EXTERNAL_ID, HOLD_KEY_PARAMETER],
        request=HoldInput,
        examples=[
            OpenApiExample(
                "hold",
                value={
                    "amount": "12.50",
                    "order_reference": "T-4711",
                    "proof": {"code": "4063671630951477.80204217"},
                },
                request_only=True,
            )
        ],
        responses={201: HoldSerializer, 200: HoldSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request, external_id: str):
        key = request.headers.get(HEADER)
        if not key:
            raise ValidationError(
                {HEADER: ["A hold needs an Idempotency-Key header: your id of this hold."]},
                code="required",
            )
        link = self.member_link(external_id)
        serializer = HoldInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        membership = self.member_membership(link, data.get("program"))
        _decimals_check(data, membership)
        # Before any write; a refusal commits what the check recorded (a wrong PIN).
        refusal = proof_refusal(request, membership, data.get("proof"))
        if refusal is not None:
            return refusal
        minutes = data.get("expires_in_minutes")
        hold, created = hold_place(
            membership=membership,
            partner=self.partner,
            amount=data["amount"],
            currency=data.get("currency"),
            idempotency_key=key,
            order_reference=data.get("order_reference", ""),
            expires_in=timedelta(minutes=minutes) if minutes else None,
        )
        return Response(
            HoldSerializer(hold_get(self, hold.pk)).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class HoldDetailView(PartnerAPIView):
    serializer_class = HoldSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="holds_retrieve",
        summary="Read a hold you placed",
        parameters=[HOLD_ID],
        responses={200: HoldSerializer, **problems(404)},
    )
    def get(self, request, id: int):
        return Response(HoldSerializer(hold_get(self, id)).data)


class HoldCaptureView(PartnerAPIView):
    serializer_class = HoldSerializer
    scopes = {"POST": ApiKeyScope.REDEEM}

    @extend_schema(
        tags=[TAG],
        operation_id="holds_capture",
        summary="Spend held points",
        description="Spends the held points that pay `amount` (or `points`; with no body: "
        "all) and gives the rest back. The same capture again answers the same; after "
        "`expires_at` it is refused (409 `hold_expired`), as is more than was held (409 "
        "`capture_exceeds_hold`) or a hold no longer held (409 `hold_not_held`). "
        "Scope: redeem.",
        parameters=[HOLD_ID, IDEMPOTENCY_PARAMETER],
        request=CaptureInput,
        examples=[OpenApiExample("part", value={"amount": "10.00"}, request_only=True)],
        responses={200: HoldSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request, id: int):
        hold = hold_get(self, id)
        serializer = CaptureInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        _decimals_check(data, hold.membership)
        hold_capture(hold=hold, points=data.get("points"), amount=data.get("amount"))
        return Response(HoldSerializer(hold_get(self, id)).data)


class HoldVoidView(PartnerAPIView):
    serializer_class = HoldSerializer
    scopes = {"POST": ApiKeyScope.REDEEM}

    @extend_schema(
        tags=[TAG],
        operation_id="holds_void",
        summary="Release held points",
        description="Gives all held points back. Voiding again, or a hold that has expired, "
        "changes nothing; a captured hold cannot be voided (409 `hold_not_held`): refund "
        "the order instead. No body. Scope: redeem.",
        parameters=[HOLD_ID, IDEMPOTENCY_PARAMETER],
        request=None,
        responses={200: HoldSerializer, **problems(400, 403, 404, 409)},
    )
    @idempotent
    def post(self, request, id: int):
        if request.data:
            raise ValidationError(
                {"non_field_errors": ["This request takes no body."]}, code="unknown_field"
            )
        hold_void(hold=hold_get(self, id))
        return Response(HoldSerializer(hold_get(self, id)).data)
