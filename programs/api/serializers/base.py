"""Building blocks shared by the API's serializers."""

from collections.abc import Mapping
from decimal import Decimal

from django.conf import settings
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare, naming them and the accepted ones, so a typo or
    an attempt to set a read-only value (balance, tier, id) is a 400, not silently lost."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            accepted = sorted(name for name, field in self.fields.items() if not field.read_only)
            unknown = sorted(str(name) for name in data if name not in accepted)
            if unknown:
                message = f"Unknown field. Accepted fields: {', '.join(accepted)}."
                raise serializers.ValidationError(
                    {name: [ErrorDetail(message, code="unknown_field")] for name in unknown}
                )
        return super().to_internal_value(data)


class AmountField(serializers.DecimalField):
    """A money amount as a string ("49.90", preferred) or a JSON number; at most the
    platform's decimal places here, at most the currency's in the serializer's
    ``validate``. ``allow_zero`` for unit prices of free items."""

    default_error_messages = {"not_positive": "Must be greater than zero."}

    def __init__(self, *, allow_zero: bool = False, **kwargs):
        kwargs.setdefault("max_digits", settings.MONEY_MAX_DIGITS)
        kwargs.setdefault("decimal_places", settings.MONEY_DECIMAL_PLACES)
        kwargs.setdefault("min_value", Decimal(0))
        self.allow_zero = allow_zero
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
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
