"""Shared accounts: a partner creates business and household accounts, adds and removes
its members, invites by e-mail and closes them (``programs.services.accounts``). A partner
sees only the accounts it created; a member is named by the partner's external id."""

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from programs.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from programs.api.pagination import IdCursorPagination
from programs.api.schema import EXTERNAL_ID, PAGINATION, problems
from programs.api.serializers.accounts import (
    AccountCloseInput,
    AccountInput,
    AccountInvitationInput,
    AccountInvitationSerializer,
    AccountMemberInput,
    AccountMemberSerializer,
    AccountMemberUpdateInput,
    AccountSerializer,
)
from programs.api.serializers.base import INVISIBLE_CHARACTERS
from programs.api.views.base import PartnerAPIView
from programs.models import Account, AccountMember, Membership, Partner, PartnerCustomer, Program
from programs.selectors import partner_member_get, partner_program_ids_query
from programs.services.account_invitations import account_invite
from programs.services.accounts import (
    account_close,
    account_create,
    account_member_add,
    account_member_leave,
    account_member_update,
)
from programs.services.ledger import Actor

TAG = "Shared accounts"
ACCOUNT_REF = OpenApiParameter(
    "account",
    {"type": "string", "pattern": rf"^[^\s/{INVISIBLE_CHARACTERS}]{{1,100}}$"},
    OpenApiParameter.PATH,
    description="Your external id of the account, or its `id` (your external id is "
    "looked up first).",
)


def partner_accounts(*, partner: Partner) -> QuerySet[Account]:
    """The accounts ``partner`` created, in its programs, with their current members
    (``current_members``, each with the partner's external id as ``member_external_id``)."""
    external_id = PartnerCustomer.objects.filter(
        partner=partner, customer=OuterRef("membership__customer")
    ).values("external_id")[:1]
    members = (
        AccountMember.objects.filter(left_at__isnull=True)
        .annotate(member_external_id=Subquery(external_id))
        .order_by("joined_at", "pk")
    )
    return (
        Account.objects.filter(
            created_by_partner=partner, program_id__in=partner_program_ids_query(partner)
        )
        .select_related("program", "holder__tier")
        .prefetch_related(Prefetch("members", queryset=members, to_attr="current_members"))
    )


def account_get(view: PartnerAPIView, ref: str) -> Account:
    accounts = partner_accounts(partner=view.partner)
    account = accounts.filter(external_id=ref).exclude(external_id="").first()
    if account is None and ref.isascii() and ref.isdigit() and len(ref) <= 18:
        account = accounts.filter(pk=int(ref)).first()
    if account is None:
        raise NotFound(f"You have no account with id '{ref}'.", "account_not_found")
    return account


def account_reload(view: PartnerAPIView, pk: int) -> Account:
    return partner_accounts(partner=view.partner).get(pk=pk)


def body_member(view: PartnerAPIView, external_id: str, program: Program, field: str) -> Membership:
    """The partner's member ``external_id`` (named in the body) in ``program``."""
    link = partner_member_get(partner=view.partner, external_id=external_id)
    if link is None:
        raise ValidationError(
            {field: ["You have no member with this external id; enroll them first."]},
            code="member_not_found",
        )
    return view.member_membership(link, program.slug, field=field)


class AccountListView(PartnerAPIView):
    pagination_class = IdCursorPagination
    serializer_class = AccountSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="accounts_list",
        summary="List the shared accounts you created",
        description="Newest first, cursor-paginated.",
        parameters=PAGINATION,
        responses={200: AccountSerializer(many=True), **problems(400)},
    )
    def get(self, request):
        page = self.paginate_queryset(partner_accounts(partner=self.partner))
        return self.get_paginated_response(AccountSerializer(page, many=True).data)

    @extend_schema(
        tags=[TAG],
        operation_id="accounts_create",
        summary="Create a business or household account",
        description=(
            "The account gets a balance and a card of its own. `manager` (your member) joins "
            "as owner or head. In a program that pools, purchases you post for the account's "
            "members earn into the account. Your `external_id` is unique among your "
            "accounts (else 409 `account_membership_conflict`). Scope: write."
        ),
        parameters=[IDEMPOTENCY_PARAMETER],
        request=AccountInput,
        examples=[
            OpenApiExample(
                "business",
                value={
                    "kind": "business",
                    "name": "Müller GmbH",
                    "program": "treue",
                    "external_id": "K-4711",
                    "manager": "c-1001",
                    "vat_id": "DE123456789",
                    "street": "Hauptstr. 1",
                    "postal_code": "10115",
                    "city": "Berlin",
                    "requires_po_reference": True,
                },
                request_only=True,
            )
        ],
        responses={201: AccountSerializer, **problems(400, 403, 409, 422)},
    )
    @idempotent
    def post(self, request):
        serializer = AccountInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        program = self.program_by_slug(data["program"])
        manager = None
        if data.get("manager"):
            manager = body_member(self, data["manager"], program, "manager")
        account = account_create(
            program=program,
            kind=data["kind"],
            name=data["name"],
            manager=manager,
            partner=self.partner,
            external_id=data["external_id"],
            vat_id=data["vat_id"],
            street=data["street"],
            postal_code=data["postal_code"],
            city=data["city"],
            country=data["country"],
            requires_po_reference=data["requires_po_reference"],
        )
        return Response(
            AccountSerializer(account_reload(self, account.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class AccountDetailView(PartnerAPIView):
    serializer_class = AccountSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="accounts_retrieve",
        summary="Read an account: balance, tier, card, members",
        parameters=[ACCOUNT_REF],
        responses={200: AccountSerializer, **problems(404)},
    )
    def get(self, request, account: str):
        return Response(AccountSerializer(account_get(self, account)).data)


class AccountMemberListView(PartnerAPIView):
    serializer_class = AccountMemberSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="accounts_members_add",
        summary="Add your member to an account",
        description="The member (in the account's program) joins with `role`; a member "
        "belongs to one account at a time (else 409 `account_membership_conflict`); a "
        "role the account's kind lacks is 403 `account_role_refused`. Scope: write.",
        parameters=[ACCOUNT_REF, IDEMPOTENCY_PARAMETER],
        request=AccountMemberInput,
        examples=[
            OpenApiExample("buyer", value={"member": "c-1002", "role": "buyer"}, request_only=True)
        ],
        responses={201: AccountMemberSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request, account: str):
        found = account_get(self, account)
        serializer = AccountMemberInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        membership = body_member(self, data["member"], found.program, "member")
        member = account_member_add(
            account=found,
            membership=membership,
            role=data["role"],
            monthly_limit=data.get("monthly_limit"),
        )
        member.member_external_id = data["member"]
        return Response(AccountMemberSerializer(member).data, status=status.HTTP_201_CREATED)


class AccountMemberDetailView(PartnerAPIView):
    serializer_class = AccountMemberSerializer

    def _member(self, ref: str, external_id: str) -> AccountMember:
        account = account_get(self, ref)
        link = self.member_link(external_id)
        member = AccountMember.objects.filter(
            account=account, membership__customer_id=link.customer_id, left_at__isnull=True
        ).first()
        if member is None:
            raise NotFound(
                f"Your member '{external_id}' does not belong to this account.",
                "account_member_not_found",
            )
        member.member_external_id = external_id
        return member

    @extend_schema(
        tags=[TAG],
        operation_id="accounts_members_update",
        summary="Change a member's role or monthly limit",
        description="An account keeps at least one owner (or head): 403 "
        "`account_role_refused` otherwise. Scope: write.",
        parameters=[ACCOUNT_REF, EXTERNAL_ID],
        request=AccountMemberUpdateInput,
        examples=[
            OpenApiExample("limit", value={"monthly_limit": 2000}, request_only=True),
        ],
        responses={200: AccountMemberSerializer, **problems(400, 403, 404, 409)},
    )
    def patch(self, request, account: str, external_id: str):
        member = self._member(account, external_id)
        serializer = AccountMemberUpdateInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        member = account_member_update(
            member=member,
            role=data.get("role"),
            monthly_limit=data.get("monthly_limit", ...),
        )
        member.member_external_id = external_id
        return Response(AccountMemberSerializer(member).data)

    @extend_schema(
        tags=[TAG],
        operation_id="accounts_members_remove",
        summary="A member leaves the account",
        description="Their future purchases earn on their own membership again; what they "
        "earned into the account stays with the account. The last owner (or head) cannot "
        "leave while others remain (403 `account_role_refused`). Scope: write.",
        parameters=[ACCOUNT_REF, EXTERNAL_ID],
        request=None,
        responses={204: None, **problems(403, 404, 409)},
    )
    def delete(self, request, account: str, external_id: str):
        account_member_leave(member=self._member(account, external_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountInvitationView(PartnerAPIView):
    serializer_class = AccountInvitationSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="accounts_invitations_create",
        summary="Invite someone to the account by e-mail",
        description="They get an e-mail and confirm in the portal, signed in with this "
        "address (valid 14 days); they join with `role`. The link's secret is sent only "
        "to them. A second open invitation to the same address is 409. Scope: write.",
        parameters=[ACCOUNT_REF, IDEMPOTENCY_PARAMETER],
        request=AccountInvitationInput,
        examples=[
            OpenApiExample(
                "buyer", value={"email": "jonas@example.com", "role": "buyer"}, request_only=True
            )
        ],
        responses={201: AccountInvitationSerializer, **problems(400, 403, 404, 409)},
    )
    @idempotent
    def post(self, request, account: str):
        found = account_get(self, account)
        serializer = AccountInvitationInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation, _token = account_invite(
            account=found,
            email=serializer.validated_data["email"],
            role=serializer.validated_data["role"],
        )
        return Response(
            AccountInvitationSerializer(invitation).data, status=status.HTTP_201_CREATED
        )


class AccountCloseView(PartnerAPIView):
    serializer_class = AccountSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="accounts_close",
        summary="Close an account and settle its balance",
        description="The available points go to the owner's (or head's) own membership as a "
        "transfer; every member leaves; open invitations are withdrawn. Refused while "
        "points are held, pending or owed (409 `account_not_settled`). Closing a closed "
        "account answers it as it is. Scope: write.",
        parameters=[ACCOUNT_REF, IDEMPOTENCY_PARAMETER],
        request=AccountCloseInput,
        responses={200: AccountSerializer, **problems(400, 403, 404, 409)},
    )
    @idempotent
    def post(self, request, account: str):
        found = account_get(self, account)
        serializer = AccountCloseInput(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        account_close(
            account=found,
            actor=Actor.for_partner(self.partner),
            note=serializer.validated_data["note"],
        )
        return Response(AccountSerializer(account_reload(self, found.pk)).data)
