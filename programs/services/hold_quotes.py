"""What paying with points costs: points for an amount of money and back, and the quote a
till asks for before it places a hold (``programs.services.holds``).

A point is worth the program's ``point_value``: an amount takes ceil(amount / point value)
points (the merchant never gets less than the amount), and points are worth
floor(points x point value) to the currency's smallest unit.
"""

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from programs.errors import CurrencyMismatch, MembershipInactive, PointsPaymentUnavailable
from programs.models import Membership, MembershipStatus, PointLot
from programs.services.purchases import money_check


def points_for_amount(amount: Decimal, point_value: Decimal) -> int:
    """Points that pay ``amount``: ceil(amount / point value)."""
    return int((amount / point_value).to_integral_value(rounding=ROUND_CEILING))


def amount_for_points(points: int, point_value: Decimal, currency: str) -> Decimal:
    """What ``points`` are worth: floor(points x point value) to the currency's unit."""
    unit = Decimal(1).scaleb(-settings.CURRENCY_DECIMALS.get(currency, 2))
    return (points * point_value).quantize(unit, rounding=ROUND_DOWN)


@dataclass(frozen=True)
class Quote:
    membership: Membership
    amount: Decimal
    currency: str
    point_value: Decimal
    points_needed: int  # for the whole amount
    available: int  # spendable now (none while a debt is open)
    points_payable: int  # min(points_needed, available)
    amount_payable: Decimal  # what points_payable pay (at most the amount)

    @property
    def covers(self) -> bool:
        return self.points_payable == self.points_needed


def payment_check(membership: Membership, amount: Decimal, currency: str | None) -> str:
    """The program's currency, if ``membership`` may pay ``amount`` in it with points."""
    program = membership.program
    if membership.status != MembershipStatus.ACTIVE:
        raise MembershipInactive()
    if Decimal(program.point_value) <= 0:
        raise PointsPaymentUnavailable()
    if currency and currency != program.currency:
        raise CurrencyMismatch(
            f"The program's currency is {program.currency}, not {currency}.", field="currency"
        )
    money_check(amount, program.currency)
    return program.currency


def hold_quote(*, membership: Membership, amount: Decimal, currency: str | None = None) -> Quote:
    """How many points pay ``amount``, and how much of it the member's points can pay."""
    currency = payment_check(membership, amount, currency)
    point_value = Decimal(membership.program.point_value)  # a str on a program just made
    now = timezone.now()
    lapsed = PointLot.objects.filter(  # past their date, not yet expired by the nightly job
        membership=membership,
        released_at__isnull=False,
        expired_at__isnull=True,
        expires_at__lte=now,
    ).aggregate(total=Sum("remaining"))["total"]
    available = 0 if membership.debt else max(0, membership.balance - (lapsed or 0))
    needed = points_for_amount(amount, point_value)
    payable = min(needed, available)
    if payable == needed:
        amount_payable = amount
    else:
        amount_payable = amount_for_points(payable, point_value, currency)
    return Quote(
        membership, amount, currency, point_value, needed, available, payable, amount_payable
    )
