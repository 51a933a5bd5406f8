"""Members: upsert and read by external id, list, balance, history, referral."""

import re

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from programs.api.pagination import EffectiveCursorPagination, IdCursorPagination
from programs.api.schema import EXTERNAL_ID, PAGINATION, PROGRAM_QUERY, SLUG, problems
from programs.api.serializers.base import INVISIBLE_CHARACTERS, QuerySerializer
from programs.api.serializers.members import (
    BalanceSerializer,
    LedgerEntrySerializer,
    MemberReferralSerializer,
    MemberSerializer,
    MemberUpsertInput,
)
from programs.api.views.base import PartnerAPIView
from programs.balances import partner_member_balances
from programs.selectors import (
    entries_campaign_bonuses,
    members_filter,
    membership_balance,
    membership_history,
    membership_referrals,
    partner_member_get,
    partner_members,
    partner_programs,
)
from programs.services.partner_members import CUSTOMER_FIELDS, partner_member_upsert

EXTERNAL_ID_RE = re.compile(rf"[^\s/{INVISIBLE_CHARACTERS}]{{1,100}}")
TAG = "Members"

MEMBER_EXAMPLE = OpenApiExample(
    "member",
    value={
        "email": "erika@example.com",
        "first_name": "Erika",
        "last_name": "Mustermann",
        "language": "de",
        "programs": ["treue"],
        "referral_code": "K7M2P9QX",
        "signals": {"ip_address": "203.0.113.7", "device_id": "d-5f2c"},
    },
    request_only=True,
)


class MemberListQuery(QuerySerializer):
    program = serializers.SlugField(required=False, max_length=50)
    tier = serializers.CharField(required=False, max_length=60)
    updated_since = serializers.DateTimeField(required=False)


class MemberListView(PartnerAPIView):
    pagination_class = IdCursorPagination
    serializer_class = MemberSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="members_list",
        summary="List your members",
        description="Members you have linked, newest first, cursor-paginated. Unknown query "
        "parameters are ignored.",
        parameters=[
            OpenApiParameter("program", SLUG, description="Enrolled in this program."),
            OpenApiParameter(
                "tier", OpenApiTypes.STR, description="Current tier name (e.g. Gold)."
            ),
            OpenApiParameter(
                "updated_since",
                OpenApiTypes.DATETIME,
                description="Changed at or after this time (contact data or points).",
            ),
            *PAGINATION,
        ],
        responses={200: MemberSerializer(many=True), **problems(400)},
    )
    def get(self, request):
        query = MemberListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        slug = query.validated_data.get("program")
        program = self.program_by_slug(slug) if slug else None
        members = members_filter(
            partner_members(partner=self.partner),
            partner=self.partner,
            program=program,
            tier=query.validated_data.get("tier"),
            updated_since=query.validated_data.get("updated_since"),
        )
        page = self.paginate_queryset(members)
        return self.get_paginated_response(MemberSerializer(page, many=True).data)


class MemberDetailView(PartnerAPIView):
    serializer_class = MemberSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="members_retrieve",
        summary="Read a member",
        parameters=[EXTERNAL_ID],
        responses={200: MemberSerializer, **problems(404)},
    )
    def get(self, request, external_id: str):
        return Response(MemberSerializer(self.member_link(external_id)).data)

    @extend_schema(
        tags=[TAG],
        operation_id="members_upsert",
        summary="Enroll or update a member (upsert)",
        description=(
            "Creates the member under your external id, or updates it. Fields left out stay "
            "as they are. `programs` enrolls (never unenrolls). If the e-mail address "
            "belongs to a customer you have not linked (who joined through another channel "
            "or partner), the answer is the same as for a new person: your member is kept "
            "apart, and that customer is asked in the portal to confirm; once confirmed, your "
            "member is merged into them and you see their memberships in your programs. "
            "`referral_code` registers a referral in the code's program "
            "(fraud checks use `signals`). Balances, tiers and ids cannot be set: unknown "
            "fields are refused with 400. Scope: write."
        ),
        parameters=[EXTERNAL_ID],
        request=MemberUpsertInput,
        examples=[MEMBER_EXAMPLE],
        responses={
            200: MemberSerializer,
            201: MemberSerializer,
            **problems(400, 403, 409, 422),
        },
    )
    def put(self, request, external_id: str):
        if not EXTERNAL_ID_RE.fullmatch(external_id):
            raise ValidationError(
                {"external_id": ["1 to 100 characters, without spaces or '/'."]},
                code="invalid",
            )
        serializer = MemberUpsertInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        slugs = data.get("programs", [])
        programs = {
            p.slug: p for p in partner_programs(partner=self.partner).filter(slug__in=slugs)
        }
        unknown = {
            i: ["None of your programs has this slug."]
            for i, s in enumerate(slugs)
            if s not in programs
        }
        if unknown:
            raise ValidationError({"programs": unknown}, code="unknown_program")
        signals = data.get("signals", {})
        result = partner_member_upsert(
            partner=self.partner,
            external_id=external_id,
            fields={name: data[name] for name in CUSTOMER_FIELDS if name in data},
            programs=[programs[s] for s in slugs],
            referral_code=data.get("referral_code", ""),
            ip=signals.get("ip_address"),
            device_id=signals.get("device_id", ""),
        )
        link = partner_member_get(partner=self.partner, external_id=external_id)
        return Response(
            MemberSerializer(link).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class BalanceQuery(serializers.Serializer):
    program = serializers.SlugField(required=False, max_length=50)
    expiring_within_days = serializers.IntegerField(
        required=False, min_value=1, max_value=3660, default=90
    )


class MemberBalanceView(PartnerAPIView):
    serializer_class = BalanceSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="members_balance",
        summary="A member's balances and tier progress",
        description="Per program: available, pending and owed points, the available points "
        "that expire soon (by date), the tier and what is missing for the next one.",
        parameters=[
            EXTERNAL_ID,
            PROGRAM_QUERY,
            OpenApiParameter(
                "expiring_within_days",
                {"type": "integer", "minimum": 1, "maximum": 3660},
                description="Horizon for `expiring` (1-3660, default 90).",
            ),
        ],
        responses={200: BalanceSerializer, **problems(400, 404, 422)},
    )
    def get(self, request, external_id: str):
        query = BalanceQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        slug = query.validated_data.get("program")
        days = query.validated_data["expiring_within_days"]
        balances = partner_member_balances(
            partner=self.partner,
            external_id=external_id,
            program_slug=slug,
            expiring_within_days=days,
        )
        if not balances:
            # Unknown member, unknown program, not enrolled (404, 400, 422), or in none of
            # the partner's programs (no balances): the lookups say which.
            memberships = self.link_memberships(self.member_link(external_id), slug)
            balances = [
                membership_balance(membership=m, expiring_within_days=days) for m in memberships
            ]
        return Response(BalanceSerializer({"external_id": external_id, "programs": balances}).data)


class MemberHistoryView(PartnerAPIView):
    pagination_class = EffectiveCursorPagination
    serializer_class = LedgerEntrySerializer

    @extend_schema(
        tags=[TAG],
        operation_id="members_history",
        summary="A member's points history (ledger)",
        description="Every movement of points, newest first by when it counts (`effective_at`: "
        "a purchase's date for its points and returns), cursor-paginated. Entries caused "
        "by other partners show no description or order id.",
        parameters=[EXTERNAL_ID, PROGRAM_QUERY, *PAGINATION],
        responses={200: LedgerEntrySerializer(many=True), **problems(400, 404, 422)},
    )
    def get(self, request, external_id: str):
        link = self.member_link(external_id)
        memberships = self.link_memberships(link, request.query_params.get("program"))
        entries = membership_history(memberships=[m.pk for m in memberships])
        page = self.paginate_queryset(entries)
        context = {"partner": self.partner, "bonuses": entries_campaign_bonuses(page)}
        return self.get_paginated_response(
            LedgerEntrySerializer(page, many=True, context=context).data
        )


class MemberReferralView(PartnerAPIView):
    serializer_class = MemberReferralSerializer

    @extend_schema(
        tags=["Referrals"],
        operation_id="members_referral",
        summary="A member's referral code, link and referrals made",
        parameters=[EXTERNAL_ID, PROGRAM_QUERY],
        responses={200: MemberReferralSerializer, **problems(400, 404, 422)},
    )
    def get(self, request, external_id: str):
        link = self.member_link(external_id)
        memberships = self.link_memberships(link, request.query_params.get("program"))
        programs = [
            {
                "program": m.program.slug,
                "code": m.referral_code,
                "link": f"{settings.SITE_URL}/?ref={m.referral_code}",
                "referrals": membership_referrals(membership=m, partner=self.partner)[:200],
            }
            for m in memberships
            if m.program.referral_enabled
        ]
        return Response(
            MemberReferralSerializer({"external_id": link.external_id, "programs": programs}).data
        )
