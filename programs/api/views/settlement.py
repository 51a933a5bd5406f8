"""The coalition settlement of a month, as the calling partner may see it: its own row and
the program's totals, never another partner's figures (``programs.settlement``)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from programs.api.schema import problems
from programs.api.serializers.settlement import (
    MONTH_PATTERN,
    SettlementQuery,
    SettlementSerializer,
)
from programs.api.views.base import PartnerAPIView
from programs.settlement import settlement_rows, settlement_totals

TAG = "Settlement"


class SettlementView(PartnerAPIView):
    serializer_class = SettlementSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="settlement_retrieve",
        summary="Your settlement of a month",
        description=(
            "What you owe the operator of a program you take part in, or are owed, for a "
            "calendar month (Europe/Berlin): points your members earned less returns "
            "(`points_issued`), points accepted at your tills and through your API "
            "(`points_redeemed`: captured holds less refunds, vouchers used, rewards you "
            "redeemed less cancellations), their value at the program's point value and "
            "the `net` amount (positive: you owe the operator). `totals` are the "
            "program's, over all partners and the operator; other partners' figures are "
            "never shown. A later return of a purchase changes the month of the purchase. "
            "Scope: read."
        ),
        parameters=[
            OpenApiParameter(
                "program",
                {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$", "maxLength": 50},
                OpenApiParameter.QUERY,
                required=True,
                description="The slug of one of your programs.",
            ),
            OpenApiParameter(
                "month",
                {"type": "string", "pattern": MONTH_PATTERN},
                OpenApiParameter.QUERY,
                required=True,
                description="The month as YYYY-MM, e.g. 2026-03; not later than the current month.",
            ),
        ],
        responses={200: SettlementSerializer, **problems(400, 403)},
    )
    def get(self, request):
        query = SettlementQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        program = self.program_by_slug(query.validated_data["program"])
        month = query.validated_data["month"]
        rows = settlement_rows(program, month)
        own = next(row for row in rows if row.partner and row.partner.pk == self.partner.pk)
        body = {
            "program": program,
            "month": f"{month:%Y-%m}",
            "partner": own,
            "totals": settlement_totals(program, rows),
        }
        return Response(SettlementSerializer(body).data)
