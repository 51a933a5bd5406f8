"""A dry run of one purchase: the points it would earn, and why."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from programs.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from programs.api.schema import problems
from programs.api.serializers.purchase_quotes import PurchaseQuoteInput, PurchaseQuoteSerializer
from programs.api.serializers.purchases import money_errors
from programs.api.views.base import PartnerAPIView
from programs.models import ApiKeyScope
from programs.services.purchase_quotes import purchase_quote
from programs.services.purchases import LineData

QUOTE_EXAMPLE = OpenApiExample(
    "quote",
    value={
        "member": "c-1001",
        "amount": "59.80",
        "lines": [
            {"sku": "TEA-001", "category": "tea", "quantity": 2, "unit_price": "19.90"},
            {"sku": "CUP-7", "category": "tableware", "quantity": 1, "unit_price": "20.00"},
        ],
    },
    request_only=True,
)


class PurchaseQuoteView(PartnerAPIView):
    serializer_class = PurchaseQuoteSerializer
    scopes = {"POST": ApiKeyScope.READ}

    @extend_schema(
        tags=["Purchases"],
        operation_id="purchases_quote",
        summary="Dry run: the points a purchase would earn",
        description=(
            "The body of POST /purchases (`order_id` optional). Answers with the points the "
            "purchase would earn now, the earn rule of each line and every campaign that "
            "applies with its bonus. Stores nothing and changes nothing; the award may give "
            "less if a campaign's cap or budget is spent before the purchase is posted. "
            "Scope: read."
        ),
        parameters=[IDEMPOTENCY_PARAMETER],
        request=PurchaseQuoteInput,
        examples=[QUOTE_EXAMPLE],
        responses={200: PurchaseQuoteSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request):
        serializer = PurchaseQuoteInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        link = self.member_link(data["member"])
        membership = self.member_membership(link, data.get("program"))
        currency = data.get("currency") or membership.program.currency
        if errors := money_errors(data, currency):
            raise ValidationError(errors, code="max_decimal_places")
        lines = [
            LineData(
                sku=line["sku"],
                category=line["category"],
                quantity=line["quantity"],
                unit_price=line["unit_price"],
            )
            for line in data.get("lines", [])
        ]
        quote = purchase_quote(
            partner=self.partner,
            membership=membership,
            amount=data["amount"],
            currency=currency,
            occurred_at=data.get("occurred_at") or timezone.now(),
            lines=lines,
            known_program_ids={membership.program_id},
        )
        quote.member_external_id = data["member"]
        return Response(PurchaseQuoteSerializer(quote).data)
