"""Field factories so money and multipliers have one precision everywhere."""

from django.conf import settings
from django.db import models


def money_field(verbose_name, **kwargs) -> models.DecimalField:
    return models.DecimalField(
        verbose_name,
        max_digits=settings.MONEY_MAX_DIGITS,
        decimal_places=settings.MONEY_DECIMAL_PLACES,
        **kwargs,
    )


def currency_field(verbose_name, **kwargs) -> models.CharField:
    kwargs.setdefault("default", settings.DEFAULT_CURRENCY)
    return models.CharField(verbose_name, max_length=3, **kwargs)


def factor_field(verbose_name, **kwargs) -> models.DecimalField:
    kwargs.setdefault("default", 1)
    return models.DecimalField(verbose_name, max_digits=6, decimal_places=2, **kwargs)
