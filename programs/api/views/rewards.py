"""Rewards as a member sees them, redemptions, and non-purchase actions."""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from programs.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from programs.api.schema import EXTERNAL_ID, PROGRAM_QUERY, problems
from programs.api.serializers.rewards import (
    ActionInput,
    ActionSerializer,
    CatalogueItemSerializer,
    RedemptionInput,
    RedemptionSerializer,
)
from programs.api.views.base import PartnerAPIView
from programs.errors import AccountRoleRefused
from programs.models import ApiKeyScope, Membership, Redemption, Reward
from programs.selectors import partner_redemptions, reward_catalogue
from programs.services.account_spending import member_of
from programs.services.actions import action_record
from programs.services.ledger import Actor
from programs.services.rewards import redemption_cancel, reward_redeem

REDEMPTION_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)

CatalogueSerializer = inline_serializer(
    "RewardCatalogue",
    {
        "external_id": serializers.CharField(),
        "rewards": CatalogueItemSerializer(many=True),
    },
)


class MemberRewardsView(PartnerAPIView):
    serializer_class = CatalogueItemSerializer

    @extend_schema(
        tags=["Rewards"],
        operation_id="members_rewards",
        summary="The rewards catalogue as the member may see it",
        description="Current rewards of the member's programs (or of `program`), cheapest "
        "first, each flagged: affordable, tier-locked, in stock, limit reached, and whether "
        "it can be redeemed now (else `unavailable_reason`).",
        parameters=[EXTERNAL_ID, PROGRAM_QUERY],
        responses={200: CatalogueSerializer, **problems(400, 404, 422)},
    )
    def get(self, request, external_id: str):
        link = self.member_link(external_id)
        memberships = self.link_memberships(link, request.query_params.get("program"))
        items = [item for m in memberships for item in reward_catalogue(membership=m)]
        return Response(
            {
                "external_id": link.external_id,
                "rewards": CatalogueItemSerializer(items, many=True).data,
            }
        )


class MemberRedemptionCreateView(PartnerAPIView):
    serializer_class = RedemptionSerializer
    scopes = {"POST": ApiKeyScope.REDEEM}

    @extend_schema(
        tags=["Rewards"],
        operation_id="members_redeem",
        summary="Redeem a reward for a member",
        description="Spends the reward's points and returns the voucher code. Without an "
        "Idempotency-Key a retry redeems again: send one. `from_account: true` spends the "
        "balance of the member's shared account instead, as their role allows (a viewer "
        "gets 403 `account_role_refused`; a monthly limit 409 `account_redemption_limit`). "
        "Scope: redeem.",
        parameters=[EXTERNAL_ID, IDEMPOTENCY_PARAMETER],
        request=RedemptionInput,
        examples=[OpenApiExample("redeem", value={"reward": 12}, request_only=True)],
        responses={201: RedemptionSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request, external_id: str):
        link = self.member_link(external_id)
        serializer = RedemptionInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        memberships = {m.program_id: m for m in link.customer.visible_memberships}
        reward = (
            Reward.objects.select_related("min_tier", "program")
            .filter(pk=serializer.validated_data["reward"], program_id__in=memberships)
            .first()
        )
        if reward is None:
            raise ValidationError(
                {"reward": ["No reward with this id in the member's programs."]},
                code="does_not_exist",
            )
        membership, by = memberships[reward.program_id], None
        if serializer.validated_data["from_account"]:
            membership, by = self._account_holder(membership), membership
        redemption = reward_redeem(
            membership=membership,
            reward=reward,
            actor=Actor.for_partner(self.partner),
            by=by,
        )
        return Response(
            RedemptionSerializer(
                redemption_get(self, redemption.pk), context={"partner_id": self.partner.pk}
            ).data,
            status=status.HTTP_201_CREATED,
        )

    @staticmethod
    def _account_holder(membership: Membership) -> Membership:
        """The balance of the member's shared account (their role is checked when
        redeeming, under its lock)."""
        member = member_of(membership)
        if member is None:
            raise AccountRoleRefused(
                _("The member belongs to no shared account."), field="from_account"
            )
        return member.account.holder


def redemption_get(view: PartnerAPIView, redemption_id: int) -> Redemption:
    redemption = partner_redemptions(partner=view.partner).filter(pk=redemption_id).first()
    if redemption is None:
        raise NotFound(
            f"No redemption with id {redemption_id} among your members'.", "redemption_not_found"
        )
    return redemption


class RedemptionDetailView(PartnerAPIView):
    serializer_class = RedemptionSerializer

    @extend_schema(
        tags=["Rewards"],
        operation_id="redemptions_retrieve",
        summary="Read a redemption of one of your members",
        parameters=[REDEMPTION_ID],
        responses={200: RedemptionSerializer, **problems(404)},
    )
    def get(self, request, id: int):
        return Response(
            RedemptionSerializer(
                redemption_get(self, id), context={"partner_id": self.partner.pk}
            ).data
        )


class RedemptionCancelView(PartnerAPIView):
    serializer_class = RedemptionSerializer
    scopes = {"POST": ApiKeyScope.REDEEM}

    @extend_schema(
        tags=["Rewards"],
        operation_id="redemptions_cancel",
        summary="Cancel an unused redemption",
        description="Gives the points back (to the lots they came from) and restocks the "
        "reward. Only an issued, unused voucher can be cancelled (else 409). No body. "
        "Scope: redeem.",
        parameters=[REDEMPTION_ID, IDEMPOTENCY_PARAMETER],
        request=None,
        responses={200: RedemptionSerializer, **problems(400, 403, 404, 409)},
    )
    @idempotent
    def post(self, request, id: int):
        if request.data:
            raise ValidationError(
                {"non_field_errors": ["This request takes no body."]}, code="unknown_field"
            )
        redemption = redemption_get(self, id)
        redemption_cancel(redemption=redemption, actor=Actor.for_partner(self.partner))
        return Response(
            RedemptionSerializer(
                redemption_get(self, id), context={"partner_id": self.partner.pk}
            ).data
        )


class MemberActionCreateView(PartnerAPIView):
    serializer_class = ActionSerializer

    @extend_schema(
        tags=["Actions"],
        operation_id="members_actions_create",
        summary="Report an action that may earn points",
        description="A review written, a reusable bag, a birthday...: the program's action "
        "rule with this `code` decides the points, within its limit. The same `reference` "
        "again answers 200 with the first report. Scope: write.",
        parameters=[EXTERNAL_ID, IDEMPOTENCY_PARAMETER],
        request=ActionInput,
        examples=[
            OpenApiExample(
                "review",
                value={"program": "treue", "code": "review_written", "reference": "rev-981"},
                request_only=True,
            )
        ],
        responses={
            201: ActionSerializer,
            200: ActionSerializer,
            **problems(400, 403, 404, 409, 422),
        },
    )
    @idempotent
    def post(self, request, external_id: str):
        link = self.member_link(external_id)
        serializer = ActionInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        membership = self.member_membership(link, data.get("program"))
        event, created = action_record(
            membership=membership,
            code=data["code"],
            reference=data["reference"],
            actor=Actor.for_partner(self.partner),
            occurred_at=data.get("occurred_at"),
        )
        event.membership = membership
        return Response(
            ActionSerializer(event).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
