"""Partner API for surveys: invite a member (scope write, idempotent), list the surveys
of your programs, and the NPS of your own members (scope read), counted as on the staff
dashboard (docs/metrics.md)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from programs.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from programs.api.schema import EXTERNAL_ID, PROGRAM_QUERY, problems
from programs.api.serializers.base import QuerySerializer, StrictSerializer
from programs.api.views.base import PartnerAPIView
from programs.selectors import partner_programs
from surveys.metrics.formulas import MIN_ANSWERS
from surveys.models import Channel, Survey
from surveys.selectors import partner_nps
from surveys.services.invitations import invitation_create

TAG = "Surveys"


class SurveySerializer(serializers.ModelSerializer):
    program = serializers.SlugField(source="program.slug")

    class Meta:
        model = Survey
        fields = ["id", "name", "kind", "program", "recontact_days", "valid_days"]


class InvitationInput(StrictSerializer):
    survey = serializers.IntegerField(min_value=1, help_text="Id from GET /surveys.")


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    survey = serializers.IntegerField(source="survey_id")
    program = serializers.SlugField(source="survey.program.slug")
    external_id = serializers.CharField()
    channel = serializers.CharField()
    language = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


class NpsQuery(QuerySerializer):
    program = serializers.SlugField(required=False, max_length=50)
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)


class NpsSerializer(serializers.Serializer):
    program = serializers.SlugField(allow_null=True)
    responses = serializers.IntegerField(
        help_text="Answers counted: each member's latest NPS answer in the period, one per member."
    )
    promoters = serializers.IntegerField()
    passives = serializers.IntegerField()
    detractors = serializers.IntegerField()
    nps = serializers.FloatField(allow_null=True, help_text="-100..100; null without answers.")
    too_few_answers = serializers.BooleanField(
        help_text=f"True below {MIN_ANSWERS} answers: no margin of error is given then."
    )
    standard_error = serializers.FloatField(
        allow_null=True, help_text="Adjusted Wald, in points; null with too few answers."
    )
    margin_of_error = serializers.FloatField(
        allow_null=True, help_text="95 %, in points; null with too few answers."
    )


class SurveyListView(PartnerAPIView):
    serializer_class = SurveySerializer

    @extend_schema(
        tags=[TAG],
        operation_id="surveys_list",
        summary="Active surveys of your programs",
        responses={200: SurveySerializer(many=True), **problems()},
    )
    def get(self, request):
        surveys = (
            Survey.objects.filter(
                is_active=True, program__in=partner_programs(partner=self.partner)
            )
            .select_related("program")
            .order_by("pk")
        )
        return Response(SurveySerializer(surveys, many=True).data)


class MemberSurveyInvitationView(PartnerAPIView):
    serializer_class = InvitationSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="members_survey_invitations_create",
        summary="Invite a member to a survey",
        description=(
            "The member gets an e-mail in their language with a single-use link. Refused "
            "with 409 `survey_throttled` (and the reason) if the member was invited to any "
            "survey within the cool-down (7 days by default) or to this survey within its "
            "recontact interval. Use an `Idempotency-Key` to retry safely. Scope: write."
        ),
        parameters=[EXTERNAL_ID, IDEMPOTENCY_PARAMETER],
        request=InvitationInput,
        examples=[OpenApiExample("survey", value={"survey": 1}, request_only=True)],
        responses={201: InvitationSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request, external_id: str):
        link = self.member_link(external_id)
        serializer = InvitationInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        survey = (
            Survey.objects.filter(
                pk=serializer.validated_data["survey"],
                is_active=True,
                program__in=partner_programs(partner=self.partner),
            )
            .select_related("program")
            .first()
        )
        if survey is None:
            raise ValidationError(
                {"survey": ["None of your programs has an active survey with this id."]},
                code="unknown_survey",
            )
        membership = self.member_membership(link, survey.program.slug, field="survey")
        invitation = invitation_create(
            survey=survey, membership=membership, channel=Channel.PARTNER, partner=self.partner
        )
        invitation.external_id = link.external_id
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class SurveyNpsView(PartnerAPIView):
    serializer_class = NpsSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="surveys_nps",
        summary="NPS of your members",
        description="Net Promoter Score of your members (the customers you linked) in your "
        "programs (or `program`), optionally over [`since`, `until`). Each member counts "
        "once, with their latest NPS answer in the period; the staff dashboard counts the "
        f"same way. Below {MIN_ANSWERS} answers `too_few_answers` is true and no margin "
        "of error is given.",
        parameters=[
            PROGRAM_QUERY,
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="Answered at or after."),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="Answered before."),
        ],
        responses={200: NpsSerializer, **problems(400)},
    )
    def get(self, request):
        query = NpsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        program = self.program_by_slug(data["program"]) if data.get("program") else None
        found = partner_nps(
            partner=self.partner, program=program, since=data.get("since"), until=data.get("until")
        )
        counts, result = found["counts"], found["result"]
        body = {
            "program": program.slug if program else None,
            "responses": sum(counts.values()),
            **counts,
            "nps": result.score if result else None,
            "too_few_answers": result is None or result.too_few_answers,
            "standard_error": result.standard_error if result else None,
            "margin_of_error": result.margin_of_error if result else None,
        }
        return Response(NpsSerializer(body).data)
