"""What both what-ifs report alike: the period, points as money, the time taken."""

from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from programs.errors import LoyaltyError
from programs.models import Program


class InvalidProposal(LoyaltyError):
    code = "invalid_what_if"
    default_message = _("The proposed change cannot be replayed.")


def money(points: int, program: Program) -> str:
    """``points`` at the program's value of one point, rounded to its currency."""
    places = Decimal(1).scaleb(-settings.CURRENCY_DECIMALS.get(program.currency, 2))
    return str((Decimal(points) * program.point_value).quantize(places))


def period_data(start: datetime, end: datetime, months: int) -> dict:
    return {"start": start.isoformat(), "end": end.isoformat(), "months": months}


def money_data(program: Program, points_difference: int) -> dict:
    """The liability a difference of points makes, with what it was computed from."""
    return {
        "currency": program.currency,
        "point_value": str(program.point_value),
        "liability_change": money(points_difference, program),
    }
