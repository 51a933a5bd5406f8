"""Vouchers at the till: look a code up, use it with the customer's proof."""

from django.db import transaction
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from programs.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from programs.api.proofs import proof_refusal
from programs.api.schema import problems
from programs.api.serializers.vouchers import VoucherSerializer, VoucherUseInput
from programs.api.views.base import PartnerAPIView
from programs.models import ApiKeyScope, Redemption
from programs.services.vouchers import voucher_find, voucher_usable_check, voucher_use

TAG = "Vouchers"
VOUCHER_CODE = OpenApiParameter(
    "code",
    {"type": "string", "minLength": 1, "maxLength": 40},
    OpenApiParameter.PATH,
    description="The voucher code, e.g. `K7M2-P9QX-4TRA` (what its QR code holds); any "
    "case, hyphens optional.",
)


def voucher_get(view: PartnerAPIView, code: str) -> Redemption:
    """The voucher with ``code`` in the partner's programs; a code of another program
    answers exactly as one that does not exist."""
    redemption = voucher_find(partner=view.partner, code=code)
    if redemption is None:
        raise NotFound("No voucher with this code in your programs.", "voucher_not_found")
    return redemption


class VoucherDetailView(PartnerAPIView):
    serializer_class = VoucherSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="vouchers_retrieve",
        summary="Look a voucher up by its code",
        description="Any voucher issued in one of your programs, whoever issued it: the "
        "reward, its `status` (`issued`: can be used, `used`, `cancelled`, `expired`), when "
        "it was issued, until when it is valid, when it was used and whether by you, and "
        "your external id of the member (null if you have not linked them). Scope: read.",
        parameters=[VOUCHER_CODE],
        responses={200: VoucherSerializer, **problems(400, 403, 404)},
    )
    def get(self, request, code: str):
        return Response(VoucherSerializer(voucher_get(self, code)).data)


class VoucherUseView(PartnerAPIView):
    serializer_class = VoucherSerializer
    scopes = {"POST": ApiKeyScope.REDEEM}

    @extend_schema(
        tags=[TAG],
        operation_id="vouchers_use",
        summary="Use a voucher at your till",
        description="Marks the voucher used, by you, now; it cannot be used again anywhere. "
        "Needs the customer's `proof` (the rotating code of the portal's card page, or "
        "their PIN; else 403 `proof_required`, `proof_invalid`, `pin_not_set` or "
        "`pin_locked`). A voucher that cannot be used answers 409 before the proof is "
        "checked: `voucher_used` (with `used_at` and `used_by_you`), `voucher_cancelled`, "
        "`voucher_expired` (with `expires_at`). Of concurrent uses of one code exactly one "
        "succeeds. With an Idempotency-Key a retry answers the first response without "
        "checking the proof again. Scope: redeem.",
        parameters=[VOUCHER_CODE, IDEMPOTENCY_PARAMETER],
        request=VoucherUseInput,
        examples=[
            OpenApiExample(
                "use", value={"proof": {"code": "4063671630951477.80204217"}}, request_only=True
            ),
            OpenApiExample("use with PIN", value={"proof": {"pin": "4711"}}, request_only=True),
        ],
        responses={200: VoucherSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request, code: str):
        redemption = voucher_get(self, code)
        serializer = VoucherUseInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        voucher_usable_check(redemption, partner=self.partner)
        # One transaction (a savepoint under an Idempotency-Key): a refusal commits what
        # the check recorded (a wrong PIN); a use that fails gives the code back.
        with transaction.atomic():
            refusal = proof_refusal(
                request, redemption.membership, serializer.validated_data.get("proof")
            )
            if refusal is not None:
                return refusal
            voucher_use(partner=self.partner, code=redemption.voucher_code)
        return Response(VoucherSerializer(voucher_get(self, code)).data)
