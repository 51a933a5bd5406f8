"""Purchases: record one or a batch, read one, refund (fully, partly, by line)."""

from collections.abc import Callable

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.response import Response

from programs.api.exceptions import exception_problem
from programs.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from programs.api.schema import problems
from programs.api.serializers.base import decimals_error
from programs.api.serializers.purchases import (
    PurchaseBatchInput,
    PurchaseBatchResultSerializer,
    PurchaseBatchSchema,
    PurchaseInput,
    PurchaseInputFast,
    PurchaseSerializer,
    RefundInput,
    RefundResultSerializer,
    money_errors,
)
from programs.api.views.base import PartnerAPIView
from programs.errors import LoyaltyError
from programs.models import Account, Membership, Purchase
from programs.selectors import (
    partner_member_get,
    partner_member_memberships,
    partner_members_memberships,
    partner_purchases,
)
from programs.services.ledger import Actor
from programs.services.purchase_refunds import RefundLine, purchase_refund
from programs.services.purchases import LineData, purchase_record
from programs.services.purchases_batch import PurchaseItem, purchases_record_many

TAG = "Purchases"
PURCHASE_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)

PURCHASE_EXAMPLE = OpenApiExample(
    "purchase",
    value={
        "member": "c-1001",
        "program": "treue",
        "order_id": "A-100234",
        "amount": "59.80",
        "currency": "EUR",
        "occurred_at": "2025-03-01T14:03:00+01:00",
        "lines": [
            {"sku": "TEA-001", "category": "tea", "quantity": 2, "unit_price": "19.90"},
            {"sku": "CUP-7", "category": "tableware", "quantity": 1, "unit_price": "20.00"},
        ],
        "signals": {"payment_fingerprint": "fp_8c1e", "ip_address": "203.0.113.7"},
    },
    request_only=True,
)


class PurchaseRecorder:
    """Validates one purchase body and records it; shared by the single and batch views."""

    def __init__(
        self, view: PartnerAPIView, memberships_of: Callable[[str], list[Membership] | None]
    ):
        self.view = view
        # The member's visible memberships by external id, or None for no such member.
        self.memberships_of = memberships_of
        # One serializer for every item: building its fields (a deep copy) per item would
        # cost more than the rest of a 1000-item batch.
        self.input = PurchaseInput()
        self.fast_input = PurchaseInputFast(self.input)

    def record(self, body) -> tuple[Purchase, bool]:
        item = self.prepare(body)
        return purchase_record(
            partner=self.view.partner,
            membership=item.membership,
            order_id=item.order_id,
            amount=item.amount,
            currency=item.currency,
            occurred_at=item.occurred_at,
            lines=item.lines,
            payment_fingerprint=item.payment_fingerprint,
            device_id=item.device_id,
            ip_address=item.ip_address,
            po_reference=item.po_reference,
            # the membership was found among the partner's programs
            known_program_ids={item.membership.program_id},
        )

    def prepare(self, body) -> PurchaseItem:
        """Validate one body and find the member's membership (no writes)."""
        data = self.fast_input(body) or self.input.run_validation(body)
        memberships = self.memberships_of(data["member"])
        if memberships is None:
            raise ValidationError(
                {"member": ["You have no member with this external id; enroll them first."]},
                code="member_not_found",
            )
        membership = self.view.membership_choose(memberships, data.get("program"))
        currency = data.get("currency") or membership.program.currency
        if errors := money_errors(data, currency):
            raise ValidationError(errors, code="max_decimal_places")
        signals = data.get("signals", {})
        lines = [
            LineData(
                sku=line["sku"],
                category=line["category"],
                quantity=line["quantity"],
                unit_price=line["unit_price"],
            )
            for line in data.get("lines", [])
        ]
        return PurchaseItem(
            membership=membership,
            order_id=data["order_id"],
            amount=data["amount"],
            currency=currency,
            occurred_at=data.get("occurred_at") or timezone.now(),
            lines=lines,
            payment_fingerprint=signals.get("payment_fingerprint", ""),
            device_id=signals.get("device_id", ""),
            ip_address=signals.get("ip_address"),
            po_reference=data.get("po_reference", ""),
        )


class PurchaseCreateView(PartnerAPIView):
    serializer_class = PurchaseSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="purchases_create",
        summary="Record a purchase",
        description=(
            "Stores the purchase and answers at once with 202 and the points it is expected "
            "to earn; a worker awards them (as pending points during the return window). "
            "The same `order_id` again with the same data answers 200 with the stored "
            "purchase; with other data 409 `idempotency_conflict`. Amounts: positive, as "
            "strings or numbers, at most the currency's decimals. Scope: write."
        ),
        parameters=[IDEMPOTENCY_PARAMETER],
        request=PurchaseInput,
        examples=[PURCHASE_EXAMPLE],
        responses={
            202: PurchaseSerializer,
            200: PurchaseSerializer,
            **problems(400, 403, 409, 413, 422),
        },
    )
    @idempotent
    def post(self, request):
        purchase, created = PurchaseRecorder(self, self._memberships).record(request.data)
        if not created:
            body = PurchaseSerializer(
                partner_purchases(partner=self.partner).get(pk=purchase.pk)
            ).data
            return Response(body, status=status.HTTP_200_OK)
        # Just written: no need to read it back (``purchase_record`` gives it its lines).
        purchase.member_external_id = request.data["member"]
        purchase.placed_by_external_id = request.data["member"]
        body = PurchaseSerializer(purchase).data
        return Response(
            body,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": reverse("api:purchase-detail", kwargs={"id": purchase.pk})},
        )

    def _memberships(self, external_id: str) -> list[Membership] | None:
        """The member's visible memberships in one query; only when there are none, a
        second tells an unknown member (None) from one without memberships."""
        memberships = partner_member_memberships(
            partner=self.partner, external_id=external_id, related=("program", "tier")
        )
        if memberships:
            return memberships
        link = partner_member_get(partner=self.partner, external_id=external_id)
        return None if link is None else link.customer.visible_memberships


class PurchaseBatchView(PartnerAPIView):
    serializer_class = PurchaseBatchResultSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="purchases_batch",
        summary="Record up to 1000 purchases",
        description=(
            "Each item is handled as POST /purchases would handle it, on its own: one bad "
            "item does not stop the others. The answer (200) lists per item its `index`, the "
            "`result` (`created`, `duplicate` or `error`) and either the `purchase` or a "
            "`problem` (problem details; field paths relative to the item). More than 1000 "
            "items, or no list, is a 400 for the whole request. Scope: write."
        ),
        parameters=[IDEMPOTENCY_PARAMETER],
        request=PurchaseBatchSchema,
        responses={200: PurchaseBatchResultSerializer, **problems(400, 403, 409, 413, 422)},
    )
    @idempotent
    def post(self, request):
        envelope = PurchaseBatchInput(data=request.data)
        envelope.is_valid(raise_exception=True)
        items = envelope.validated_data["purchases"]
        # Looked up before each item is validated: only ids that can be valid (a NUL would
        # make PostgreSQL refuse the whole query).
        external_ids = {
            i["member"]
            for i in items
            if isinstance(i, dict)
            and isinstance(i.get("member"), str)
            and "\x00" not in i["member"]
        }
        memberships = partner_members_memberships(partner=self.partner, external_ids=external_ids)
        recorder = PurchaseRecorder(self, memberships.get)
        errors, prepared = {}, {}
        for index, item in enumerate(items):
            try:
                prepared[index] = recorder.prepare(item)
            except (APIException, LoyaltyError) as exc:
                errors[index] = exc
        recorded = purchases_record_many(partner=self.partner, items=list(prepared.values()))
        outcomes = dict(zip(prepared, recorded, strict=True))
        accounts = _accounts_of(
            self.partner, [o.purchase for o in recorded if o.purchase and o.purchase.placed_by_id]
        )
        results, summary = [], {"created": 0, "duplicate": 0, "error": 0}
        for index in range(len(items)):
            outcome = outcomes.get(index)
            error = errors.get(index) or (outcome.error if outcome else None)
            if error is not None:
                body, _headers = exception_problem(error, f"{request.path}#/purchases/{index}")
                results.append({"index": index, "result": "error", "problem": body})
                summary["error"] += 1
                continue
            purchase = outcome.purchase
            result = "created" if outcome.created else "duplicate"
            summary[result] += 1
            body = {
                "id": purchase.pk,
                "order_id": purchase.order_id,
                "status": str(purchase.status),
                "points_expected": purchase.points_expected,
            }
            if purchase.placed_by_id is not None:
                body["account"] = accounts.get(purchase.membership_id)
                body["placed_by"] = items[index]["member"]
            results.append({"index": index, "result": result, "purchase": body})
        # Plain values already in the shape of PurchaseBatchResultSerializer (which
        # documents the answer): serializing 1,000 results through it cost ~50 ms.
        return Response({"results": results, "summary": summary})


def _accounts_of(partner, purchases: list[Purchase]) -> dict[int, int]:
    """Holder membership id -> id of the partner's account, for shared accounts'
    purchases (no query when there are none)."""
    holders = {p.membership_id for p in purchases}
    if not holders:
        return {}
    return dict(
        Account.objects.filter(holder_id__in=holders, created_by_partner=partner).values_list(
            "holder_id", "pk"
        )
    )


class PurchaseDetailView(PartnerAPIView):
    serializer_class = PurchaseSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="purchases_retrieve",
        summary="Read a purchase you posted",
        parameters=[PURCHASE_ID],
        responses={200: PurchaseSerializer, **problems(404)},
    )
    def get(self, request, id: int):
        return Response(PurchaseSerializer(purchase_get(self, id)).data)


def purchase_get(view: PartnerAPIView, purchase_id: int) -> Purchase:
    purchase = partner_purchases(partner=view.partner).filter(pk=purchase_id).first()
    if purchase is None:
        raise NotFound(f"You posted no purchase with id {purchase_id}.", "purchase_not_found")
    return purchase


class PurchaseRefundCreateView(PartnerAPIView):
    serializer_class = RefundResultSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="purchases_refund",
        summary="Refund a purchase (fully, partly, or by line)",
        description=(
            "Give the returned `lines` (their value is the refund) or an `amount`. Points are "
            "reversed per the program's return policy. The same `refund_id` again answers 200 "
            "with the first refund; the same `refund_id` with other lines or amount answers "
            "409 `idempotency_conflict`. Scope: write."
        ),
        parameters=[PURCHASE_ID, IDEMPOTENCY_PARAMETER],
        request=RefundInput,
        examples=[
            OpenApiExample(
                "by line",
                value={"refund_id": "R-77", "lines": [{"line_no": 1, "quantity": 1}]},
                request_only=True,
            ),
            OpenApiExample(
                "by amount", value={"refund_id": "R-78", "amount": "10.00"}, request_only=True
            ),
        ],
        responses={
            201: RefundResultSerializer,
            200: RefundResultSerializer,
            **problems(400, 403, 404, 409, 422),
        },
    )
    @idempotent
    def post(self, request, id: int):
        purchase = purchase_get(self, id)
        serializer = RefundInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if message := decimals_error(data.get("amount"), purchase.currency):
            raise ValidationError({"amount": [message]}, code="max_decimal_places")
        refund, created = purchase_refund(
            purchase=purchase,
            refund_id=data["refund_id"],
            amount=data.get("amount"),
            lines=[
                RefundLine(line_no=li["line_no"], quantity=li["quantity"])
                for li in data.get("lines", [])
            ],
            actor=Actor.for_partner(self.partner),
        )
        body = RefundResultSerializer(
            {
                "refund_id": refund.refund_id,
                "amount": refund.amount,
                "lines": refund.lines,
                "points_reversed": refund.points_reversed,
                "created_at": refund.created_at,
                "purchase": purchase_get(self, purchase.pk),
            }
        ).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
