"""Purchases, the batch envelope and refunds."""

import re

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from programs.api.serializers.base import (
    AmountField,
    IdField,
    IpAddressField,
    StrictSerializer,
    decimals_error,
)
from programs.limits import MAX_FUTURE_SKEW
from programs.models import Account, PartnerCustomer, PurchaseStatus

BATCH_LIMIT = 1000


class PurchaseLineInput(StrictSerializer):
    sku = IdField(required=False, allow_blank=True, max_length=64, default="")
    category = IdField(required=False, allow_blank=True, max_length=64, default="")
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000, default=1)
    unit_price = AmountField(allow_zero=True, help_text="Price of one unit, tax included.")


class PurchaseSignalsInput(StrictSerializer):
    payment_fingerprint = serializers.CharField(
        required=False, allow_blank=True, max_length=128, default=""
    )
    device_id = serializers.CharField(required=False, allow_blank=True, max_length=128, default="")
    ip_address = IpAddressField(required=False, allow_null=True, default=None)


class PurchaseInput(StrictSerializer):
    member = IdField(max_length=100, help_text="The member's external id.")
    program = serializers.SlugField(
        required=False,
        max_length=50,
        help_text="Program slug; may be left out when the member has one program with you.",
    )
    order_id = IdField(
        max_length=100, help_text="Your order number; a repeated order id is not counted twice."
    )
    amount = AmountField(help_text="Total paid, > 0, at most the currency's decimals.")
    currency = serializers.RegexField(
        r"^[A-Z]{3}$",
        required=False,
        help_text="ISO 4217 code; defaults to, and must match, the program's currency.",
    )
    occurred_at = serializers.DateTimeField(
        required=False, help_text="When the purchase happened; defaults to now."
    )
    lines = PurchaseLineInput(
        many=True,
        required=False,
        max_length=500,
        help_text="Line items; if given, they must add up to the amount.",
    )
    signals = PurchaseSignalsInput(
        required=False, help_text="Signals for the referral fraud checks."
    )
    po_reference = IdField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text="The business's purchase order number; required where the member's shared "
        "account asks for one (422 `po_reference_required`).",
    )

    def validate_occurred_at(self, value):
        if value > timezone.now() + MAX_FUTURE_SKEW:
            raise serializers.ValidationError("Must not lie in the future.", code="future")
        return value


_WHOLE_DIGITS = settings.MONEY_MAX_DIGITS - settings.MONEY_DECIMAL_PLACES
_AMOUNT = re.compile(rf"[0-9]{{1,{_WHOLE_DIGITS}}}(\.[0-9]{{1,{settings.MONEY_DECIMAL_PLACES}}})?")
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,50}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_PURCHASE_FIELDS = frozenset(PurchaseInput._declared_fields)
_LINE_FIELDS = frozenset(PurchaseLineInput._declared_fields)
_SIGNAL_FIELDS = frozenset(PurchaseSignalsInput._declared_fields)
_LINES_MAX = 500


def _plain_text(value, max_length: int, *, blank: bool = False) -> bool:
    """Printable ASCII without surrounding blanks: what ``CharField`` would return as is."""
    return (
        isinstance(value, str)
        and len(value) <= max_length
        and (blank or value != "")
        and value.isascii()
        and value.isprintable()
        and value == value.strip()
    )


class PurchaseInputFast:
    """``PurchaseInput.run_validation`` for the plain, valid bodies that make up nearly all
    traffic, at a fraction of DRF's cost per field (a 1,000-purchase batch spent most of
    its Python time in it). Returns the same validated data the serializer would, or None
    for anything it is not sure about (any error, unusual text, a JSON number as amount,
    an IP address): the caller then runs the serializer, which gives the answer and the
    precise errors. The conversions that matter (amounts, the date-time) are done by the
    serializer's own fields."""

    def __init__(self, serializer: PurchaseInput):
        fields = serializer.fields
        self.amount = fields["amount"]
        self.occurred_at = fields["occurred_at"]
        self.unit_price = fields["lines"].child.fields["unit_price"]

    def __call__(self, data) -> dict | None:
        if not isinstance(data, dict) or not _PURCHASE_FIELDS.issuperset(data):
            return None
        member, order_id = data.get("member"), data.get("order_id")
        if not (_plain_text(member, 100) and _plain_text(order_id, 100)):
            return None
        amount = self._amount(data.get("amount"), self.amount)
        if amount is None:
            return None
        out = {"member": member, "order_id": order_id, "amount": amount}
        if "program" in data:
            if not (isinstance(data["program"], str) and _SLUG.fullmatch(data["program"])):
                return None
            out["program"] = data["program"]
        if "currency" in data:
            if not (isinstance(data["currency"], str) and _CURRENCY.fullmatch(data["currency"])):
                return None
            out["currency"] = data["currency"]
        if "occurred_at" in data:
            occurred_at = self._occurred_at(data["occurred_at"])
            if occurred_at is None:
                return None
            out["occurred_at"] = occurred_at
        if "lines" in data:
            lines = self._lines(data["lines"])
            if lines is None:
                return None
            out["lines"] = lines
        if "signals" in data:
            signals = self._signals(data["signals"])
            if signals is None:
                return None
            out["signals"] = signals
        if "po_reference" in data:
            if not _plain_text(data["po_reference"], 100, blank=True):
                return None
            out["po_reference"] = data["po_reference"]
        return out

    @staticmethod
    def _amount(value, field):
        if not (isinstance(value, str) and value.isascii() and _AMOUNT.fullmatch(value)):
            return None
        try:
            amount = field.to_internal_value(value)  # refuses a zero unless allow_zero
        except serializers.ValidationError:
            return None
        return amount if amount <= field.max_value else None

    def _occurred_at(self, value):
        if not (isinstance(value, str) and value.isascii() and value.isprintable()):
            return None
        try:
            parsed = self.occurred_at.to_internal_value(value)
        except serializers.ValidationError:
            return None
        return None if parsed > timezone.now() + MAX_FUTURE_SKEW else parsed

    def _lines(self, value) -> list | None:
        if not isinstance(value, list) or len(value) > _LINES_MAX:
            return None
        lines = []
        for line in value:
            if not isinstance(line, dict) or not _LINE_FIELDS.issuperset(line):
                return None
            sku, category = line.get("sku", ""), line.get("category", "")
            quantity = line.get("quantity", 1)
            if not (_plain_text(sku, 64, blank=True) and _plain_text(category, 64, blank=True)):
                return None
            if type(quantity) is not int or not 1 <= quantity <= 1_000_000:
                return None
            unit_price = self._amount(line.get("unit_price"), self.unit_price)
            if unit_price is None:
                return None
            lines.append(
                {"sku": sku, "category": category, "quantity": quantity, "unit_price": unit_price}
            )
        return lines

    @staticmethod
    def _signals(value) -> dict | None:
        if not isinstance(value, dict) or not _SIGNAL_FIELDS.issuperset(value):
            return None
        fingerprint = value.get("payment_fingerprint", "")
        device_id = value.get("device_id", "")
        if not (
            _plain_text(fingerprint, 128, blank=True) and _plain_text(device_id, 128, blank=True)
        ):
            return None
        if value.get("ip_address") is not None:  # normalised by IPAddressField: leave to it
            return None
        return {"payment_fingerprint": fingerprint, "device_id": device_id, "ip_address": None}


def money_errors(attrs: dict, currency: str) -> dict:
    """Amounts with more decimals than ``currency`` has, as serializer errors."""
    errors: dict = {}
    if message := decimals_error(attrs.get("amount"), currency):
        errors["amount"] = [message]
    for index, line in enumerate(attrs.get("lines", [])):
        if message := decimals_error(line["unit_price"], currency):
            errors.setdefault("lines", {})[index] = {"unit_price": [message]}
    return errors


class PurchaseBatchInput(StrictSerializer):
    """Each item is validated on its own; see ``PurchaseInput``."""

    purchases = serializers.ListField(
        child=serializers.JSONField(),
        min_length=1,
        max_length=BATCH_LIMIT,
        help_text=f"1 to {BATCH_LIMIT} purchases, each as for POST /purchases.",
    )


class PurchaseBatchSchema(serializers.Serializer):
    """The batch body as documented (validation happens per item)."""

    purchases = serializers.ListField(child=PurchaseInput(), min_length=1, max_length=BATCH_LIMIT)


class PurchaseLineSerializer(serializers.Serializer):
    line_no = serializers.IntegerField()
    sku = serializers.CharField()
    category = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    refunded_quantity = serializers.IntegerField()


class RefundSerializer(serializers.Serializer):
    refund_id = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    lines = serializers.ListField(child=serializers.DictField(), help_text="[{line_no, quantity}]")
    points_reversed = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class PurchaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    member = serializers.CharField(source="member_external_id", allow_null=True)
    program = serializers.SlugField(source="program.slug")
    order_id = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=PurchaseStatus.choices)
    status_reason = serializers.CharField()
    failure_reason = serializers.CharField(
        help_text=(
            "With status `failed`: why the points could not be awarded (staff look into it "
            "and award the purchase again once the cause is fixed). Empty otherwise."
        )
    )
    points_expected = serializers.IntegerField(
        help_text="Points the purchase is expected to earn, computed when it was received."
    )
    points_awarded = serializers.IntegerField(
        allow_null=True, help_text="Points awarded by the worker (null until then)."
    )
    refunded_amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    points_reversed = serializers.IntegerField()
    received_at = serializers.DateTimeField()
    processed_at = serializers.DateTimeField(allow_null=True)
    lines = PurchaseLineSerializer(many=True, source="line_list")
    refunds = RefundSerializer(many=True, source="refund_list")
    po_reference = serializers.CharField(help_text="The purchase order number; empty if none.")
    account = serializers.SerializerMethodField(
        help_text="The shared account the purchase earns for (its `id`, if you created it); "
        "null for a member's own purchase."
    )
    placed_by = serializers.SerializerMethodField(
        help_text="Your external id of the account member who made the purchase; null for "
        "a member's own purchase."
    )

    # Only a shared account's purchase (``placed_by`` set) reads more: the hot path of a
    # member's own purchase stays as it was.
    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_account(self, purchase) -> int | None:
        if purchase.placed_by_id is None:
            return None
        return (
            Account.objects.filter(
                holder_id=purchase.membership_id, created_by_partner_id=purchase.partner_id
            )
            .values_list("pk", flat=True)
            .first()
        )

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_placed_by(self, purchase) -> str | None:
        if purchase.placed_by_id is None:
            return None
        known = getattr(purchase, "placed_by_external_id", None)
        if known is not None:
            return known
        return (
            PartnerCustomer.objects.filter(
                partner_id=purchase.partner_id, customer__memberships=purchase.placed_by_id
            )
            .values_list("external_id", flat=True)
            .first()
        )

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if data["placed_by"] is not None:
            data["member"] = data["placed_by"]  # who bought; ``account`` names the account
        return data


class BatchItemPurchaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    order_id = serializers.CharField()
    status = serializers.ChoiceField(choices=PurchaseStatus.choices)
    points_expected = serializers.IntegerField()
    account = serializers.IntegerField(
        required=False, help_text="Only for a shared account's purchase: as in POST /purchases."
    )
    placed_by = serializers.CharField(
        required=False, help_text="Only for a shared account's purchase: as in POST /purchases."
    )


class BatchItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the item in the request.")
    result = serializers.ChoiceField(choices=["created", "duplicate", "error"])
    purchase = BatchItemPurchaseSerializer(required=False, help_text="Unless an error.")
    problem = serializers.DictField(
        required=False, help_text="Problem details (as for a single request) if an error."
    )


class BatchSummarySerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    error = serializers.IntegerField()


class PurchaseBatchResultSerializer(serializers.Serializer):
    results = BatchItemResultSerializer(many=True)
    summary = BatchSummarySerializer()


class RefundLineInput(StrictSerializer):
    line_no = serializers.IntegerField(min_value=1, max_value=32767)
    quantity = serializers.IntegerField(min_value=1, max_value=1_000_000)


class RefundInput(StrictSerializer):
    refund_id = IdField(
        max_length=100, help_text="Your id of the return; a repeated id is not counted twice."
    )
    amount = AmountField(
        required=False, help_text="Refunded amount; leave out when giving the returned lines."
    )
    lines = RefundLineInput(
        many=True,
        required=False,
        min_length=1,
        max_length=500,
        help_text="Returned lines; their value is the refunded amount.",
    )

    def validate(self, attrs):
        if "amount" not in attrs and not attrs.get("lines"):
            raise serializers.ValidationError(
                "Give the returned lines or an amount.", code="amount_or_lines"
            )
        return attrs


class RefundResultSerializer(RefundSerializer):
    purchase = PurchaseSerializer()
