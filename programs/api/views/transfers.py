"""Transfers: a member gives points to another member, or to a shared account
(``programs.services.transfers``). A partner sees the transfers of its members."""

from django.db.models import OuterRef, Q, QuerySet, Subquery
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

from programs.api.idempotency import HEADER, IDEMPOTENCY_PARAMETER, idempotent
from programs.api.pagination import IdCursorPagination
from programs.api.schema import EXTERNAL_ID, PAGINATION, PROGRAM_QUERY, problems
from programs.api.serializers.transfers import (
    TransferInput,
    TransferListQuery,
    TransferSerializer,
)
from programs.api.views.accounts import body_member, partner_accounts
from programs.api.views.base import PartnerAPIView
from programs.models import Account, Membership, Partner, PartnerCustomer, Transfer
from programs.selectors import partner_member_get
from programs.services.ledger import Actor
from programs.services.transfers import transfer_create

TAG = "Transfers"

TRANSFER_KEY_PARAMETER = OpenApiParameter(
    HEADER,
    IDEMPOTENCY_PARAMETER.type,
    OpenApiParameter.HEADER,
    required=True,
    description="Required here: your unique id of this transfer (e.g. a UUID), 1-255 "
    "printable ASCII characters. The same key and body again returns the same transfer "
    "(never a second one, also after 24 hours); another body under the same key is "
    "refused (422 `idempotency_key_reused`, or 409 `idempotency_conflict` after 24 hours).",
)


class IdempotencyKeyRequired(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Send an Idempotency-Key header: a transfer must not happen twice."
    default_code = "idempotency_key_required"


def partner_transfers(*, partner: Partner) -> QuerySet[Transfer]:
    """Transfers with the partner's external ids of both sides (null where it does not
    know them) and the ids of the partner's accounts among them."""

    def external_id(side: str):
        return PartnerCustomer.objects.filter(
            partner=partner, customer=OuterRef(f"{side}__customer")
        ).values("external_id")[:1]

    def account_id(side: str):
        return Account.objects.filter(holder=OuterRef(side), created_by_partner=partner).values(
            "pk"
        )[:1]

    return Transfer.objects.select_related("program").annotate(
        sender_external_id=Subquery(external_id("sender")),
        recipient_external_id=Subquery(external_id("recipient")),
        sender_account_id=Subquery(account_id("sender")),
        recipient_account_id=Subquery(account_id("recipient")),
    )


class TransferListView(PartnerAPIView):
    pagination_class = IdCursorPagination
    serializer_class = TransferSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="transfers_list",
        summary="A member's transfers, given and received",
        description="Newest first, cursor-paginated; `member` is required.",
        parameters=[
            OpenApiParameter(
                "member",
                EXTERNAL_ID.type,
                OpenApiParameter.QUERY,
                required=True,
                description="Your external id of the member.",
            ),
            PROGRAM_QUERY,
            *PAGINATION,
        ],
        responses={200: TransferSerializer(many=True), **problems(400, 404, 422)},
    )
    def get(self, request):
        query = TransferListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        link = self.member_link(query.validated_data["member"])
        memberships = self.link_memberships(link, query.validated_data.get("program"))
        transfers = partner_transfers(partner=self.partner).filter(
            Q(sender__in=memberships) | Q(recipient__in=memberships)
        )
        page = self.paginate_queryset(transfers)
        return self.get_paginated_response(TransferSerializer(page, many=True).data)

    @extend_schema(
        tags=[TAG],
        operation_id="transfers_create",
        summary="Give points to another member or to a shared account",
        description=(
            "Moves `points` from `from_member` to `to_member` (your member in the same "
            "program) or to `to_account` (an account you created, in the same program): "
            "`201` with `status` `done`, or `review` when our staff look at it first "
            "(large or unusual transfers; nothing moves until approved). The program must "
            "allow transfers (into the member's own account always allowed), the giver must "
            "have been a member long enough, and the daily and yearly limits hold: else 409 "
            "`transfer_refused` or `transfer_limit_reached`. The Idempotency-Key header is "
            "required; the same key and body again answers `200` with the same transfer. "
            "Scope: write."
        ),
        parameters=[TRANSFER_KEY_PARAMETER],
        request=TransferInput,
        examples=[
            OpenApiExample(
                "to a member",
                value={"from_member": "c-1001", "to_member": "c-1002", "points": 200},
                request_only=True,
            ),
            OpenApiExample(
                "to an account",
                value={"from_member": "c-1001", "to_account": 17, "points": 500},
                request_only=True,
            ),
        ],
        responses={
            201: TransferSerializer,
            200: TransferSerializer,
            **problems(400, 403, 404, 409, 422),
        },
    )
    @idempotent
    def post(self, request):
        key = request.headers.get(HEADER)
        if key is None:
            raise IdempotencyKeyRequired()
        serializer = TransferInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        sender = self._sender(data)
        if "to_account" in data:
            account = (
                partner_accounts(partner=self.partner)
                .filter(pk=data["to_account"])
                .select_related("holder")
                .first()
            )
            if account is None:
                raise ValidationError(
                    {"to_account": ["You have no account with this id."]},
                    code="account_not_found",
                )
            recipient = account.holder
        else:
            recipient = body_member(self, data["to_member"], sender.program, "to_member")
        transfer, created = transfer_create(
            sender=sender,
            recipient=recipient,
            points=data["points"],
            key=f"api:{self.partner.pk}:{key}",
            actor=Actor.for_partner(self.partner),
            message=data["message"],
        )
        body = TransferSerializer(partner_transfers(partner=self.partner).get(pk=transfer.pk)).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    def _sender(self, data: dict) -> Membership:
        link = self.member_link_in_body(data["from_member"], "from_member")
        return self.membership_choose(
            link.customer.visible_memberships, data.get("program"), field="program"
        )

    def member_link_in_body(self, external_id: str, field: str):
        link = partner_member_get(partner=self.partner, external_id=external_id)
        if link is None:
            raise ValidationError(
                {field: ["You have no member with this external id; enroll them first."]},
                code="member_not_found",
            )
        return link
