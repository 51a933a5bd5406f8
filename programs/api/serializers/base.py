"""Building blocks shared by the API's serializers."""

import re
from collections.abc import Mapping
from decimal import Decimal

from django.conf import settings
from drf_spectacular.drainage import set_override
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from programs.limits import MAX_AMOUNT, MAX_AMOUNT_WHOLE_DIGITS


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare, naming them and the accepted ones, so a typo or
    an attempt to set a read-only value (balance, tier, id) is a 400, not silently lost.
    Text fields take JSON strings only (DRF would turn ``12`` into ``"12"``): an order id
    sent as a number is a client bug worth hearing about, and the schema says string."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            accepted = sorted(name for name, field in self.fields.items() if not field.read_only)
            unknown = sorted(str(name) for name in data if name not in accepted)
            if unknown:
                message = f"Unknown field. Accepted fields: {', '.join(accepted)}."
                raise serializers.ValidationError(
                    {name: [ErrorDetail(message, code="unknown_field")] for name in unknown}
                )
            not_text = sorted(
                name
                for name, field in self.fields.items()
                if isinstance(field, serializers.CharField)
                and isinstance(data.get(name), int | float)
            )
            if not_text:
                message = "Must be a string (in quotes)."
                raise serializers.ValidationError(
                    {name: [ErrorDetail(message, code="invalid")] for name in not_text}
                )
        return super().to_internal_value(data)


class QuerySerializer(serializers.Serializer):
    """Query parameters. DRF reads ``?since=`` from form data as "not given", which would
    silently drop a date filter; here an empty date-time is an error that says what to
    send. (An empty text filter still means "not given", as the schema allows.)"""

    def to_internal_value(self, data):
        blank = {
            name: ["Give a date-time such as 2025-03-01T00:00:00Z or leave it out."]
            for name, field in self.fields.items()
            if isinstance(field, serializers.DateTimeField) and data.get(name) == ""
        }
        if blank:
            raise serializers.ValidationError(blank, code="invalid")
        return super().to_internal_value(data)


# Characters no id may hold: control characters (NUL, tab, CR, LF, ...) and the invisible
# ones that reorder or hide text (bidi embeddings, overrides and isolates, zero-width
# characters, the byte-order mark). Written so that Python and the ECMAScript regex of the
# OpenAPI schema read it the same way. Lone surrogates (a JSON escape such as "\ud800")
# are refused as well; the schema cannot name them (no regex engine of a validator takes
# them), and UTF-8 cannot carry them anyway.
INVISIBLE_CHARACTERS = (
    r"\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    r"\ufeff\ufff9-\ufffb"
)
ID_PATTERN = rf"^[^{INVISIBLE_CHARACTERS}]*$"
_INVISIBLE = re.compile(rf"[{INVISIBLE_CHARACTERS}\ud800-\udfff]")


class IdField(serializers.CharField):
    """An identifier of the partner's (order, refund, member, action): visible characters
    only, so that it reads the same in a log line, an e-mail or the admin as it was sent."""

    default_error_messages = {
        "invalid_characters": "Must not contain control characters (such as line breaks or "
        "tabs) or invisible formatting characters (such as bidi overrides)."
    }

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        schema = {"type": "string", "pattern": ID_PATTERN}
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        if not self.allow_blank:
            schema["minLength"] = 1
        set_override(self, "field", schema)

    def to_internal_value(self, data):
        if isinstance(data, str) and _INVISIBLE.search(data):  # before blanks are trimmed
            self.fail("invalid_characters")
        return super().to_internal_value(data)


@extend_schema_field(
    {"oneOf": [{"type": "string", "format": "ipv4"}, {"type": "string", "format": "ipv6"}]}
)
class IpAddressField(serializers.IPAddressField):
    """An IPv4 or IPv6 address, documented as such."""


_WHOLE = MAX_AMOUNT_WHOLE_DIGITS
_PLACES = settings.MONEY_DECIMAL_PLACES
_LARGEST = float(MAX_AMOUNT)
# What an amount written as a string may look like: digits with at most one "." (and a
# "-", refused later as below the minimum), nothing else. Decimal() would also take
# " 10.00", "1E+2" and "1_000"; the schema's patterns take a subset of this.
_AMOUNT_TEXT = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def _amount_schema(*, allow_zero: bool) -> dict:
    """ "49.90" (at most 8 whole digits and 2 decimals, ``MAX_AMOUNT``) or a JSON number;
    > 0 unless ``allow_zero``. (drf-spectacular's own pattern would let "" and "-1"
    through.)"""
    if allow_zero:
        text = rf"^([0-9]{{1,{_WHOLE}}}(\.[0-9]{{0,{_PLACES}}})?|\.[0-9]{{1,{_PLACES}}})$"
    else:
        text = (
            rf"^(0*[1-9][0-9]{{0,{_WHOLE - 1}}}(\.[0-9]{{0,{_PLACES}}})?"
            rf"|0*\.(0[1-9]|[1-9][0-9]?))$"
        )
    number = {"type": "number", "minimum": 0, "maximum": _LARGEST}
    if not allow_zero:
        number["exclusiveMinimum"] = True  # OpenAPI 3.0 style
    return {"oneOf": [{"type": "string", "pattern": text}, number]}


class AmountField(serializers.DecimalField):
    """A money amount as a string ("49.90", preferred) or a JSON number; at most the
    platform's decimal places here, at most the currency's in the serializer's
    ``validate``. ``allow_zero`` for unit prices of free items."""

    default_error_messages = {
        "not_positive": "Must be greater than zero.",
        "not_plain": (
            'Write the amount as digits with a "." before the cents, such as "49.90": '
            "no spaces, signs, exponents or thousands separators."
        ),
        "max_value": f"At most {MAX_AMOUNT} (the largest purchase, line or refund).",
    }

    def __init__(self, *, allow_zero: bool = False, **kwargs):
        kwargs.setdefault("max_digits", settings.MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", settings.MONEY_DECIMAL_PLACES)
        kwargs.setdefault("min_value", Decimal(0))
        kwargs.setdefault("max_value", MAX_AMOUNT)
        self.allow_zero = allow_zero
        super().__init__(**kwargs)
        set_override(self, "field", _amount_schema(allow_zero=allow_zero))

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, str) and not _AMOUNT_TEXT.fullmatch(data):
            raise serializers.ValidationError(self.error_messages["not_plain"], code="invalid")
        value = super().to_internal_value(data)
        if value == 0 and not self.allow_zero:
            self.fail("not_positive")
        return value


def currency_decimals(currency: str) -> int:
    return settings.CURRENCY_DECIMALS.get(currency, settings.MONEY_DECIMAL_PLACES)


def decimals_error(value: Decimal | None, currency: str) -> str | None:
    """The message if ``value`` has more decimal places than ``currency`` allows."""
    if value is None:
        return None
    places = currency_decimals(currency)
    if value != value.quantize(Decimal(1).scaleb(-places)):
        return f"Ensure that there are no more than {places} decimal places for {currency}."
    return None
