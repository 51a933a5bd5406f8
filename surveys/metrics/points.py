"""Points programme health: redemption, the points liability and its expected breakage.
Pure functions, no database access; conventions as in :mod:`surveys.metrics.formulas`.

Money is exact until it is shown: values of points are ``Decimal`` (a count times a
``Decimal`` value per point), an estimate that divides is a ``Fraction``, and
:func:`money_round` rounds a currency's total once, at the end, never per row."""

from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction


def _require_non_negative(**counts: int) -> None:
    for name, value in counts.items():
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")


def _require_value(value_per_point: Decimal) -> None:
    if value_per_point < 0:
        raise ValueError("value_per_point must be >= 0")


def redemption_rate(points_issued: int, points_redeemed: int) -> float | None:
    """Share of issued points that were redeemed in the same period(s).

        redemption rate = points redeemed / points issued

    Can exceed 1 in a period that redeems points issued earlier. Undefined (``None``) when
    no points were issued.
    """
    _require_non_negative(points_issued=points_issued, points_redeemed=points_redeemed)
    return None if points_issued == 0 else points_redeemed / points_issued


def points_value(points: int, value_per_point: Decimal) -> Decimal:
    """Money value of points, exact (not rounded): points * value of one point."""
    _require_non_negative(points=points)
    _require_value(value_per_point)
    return points * value_per_point


def points_liability(outstanding_points: int, value_per_point: Decimal) -> Decimal:
    """Outstanding points liability in money: outstanding points x value of one point.

    liability = outstanding points * value per point   (rounded to cents, half up)

    For one amount only: a total over programs or tiers sums :func:`points_value` and
    rounds once with :func:`money_round`.
    """
    return money_round(points_value(outstanding_points, value_per_point))


def breakage_share(points_issued: int, points_expired: int) -> Fraction | None:
    """A program's expected breakage from its own history: the share of the points it
    ever issued that expired unused.

        breakage share = points expired / points issued

    An estimate: it assumes points outstanding now will lapse as often as past points
    did. Points issued recently have not had the time to expire, so in a young program
    it is low. Undefined (``None``) when no points were issued.
    """
    _require_non_negative(points_issued=points_issued, points_expired=points_expired)
    if points_expired > points_issued:
        raise ValueError("points_expired cannot exceed points_issued")
    return None if points_issued == 0 else Fraction(points_expired, points_issued)


def expected_breakage(
    outstanding_points: int, value_per_point: Decimal, share: Fraction | None
) -> Fraction | None:
    """Expected breakage in money, exact: the value of the points outstanding (available
    and pending) times the program's breakage share.

        expected breakage = outstanding points * value per point * breakage share

    Undefined (``None``) when the share is.
    """
    if share is None:
        return None
    return Fraction(points_value(outstanding_points, value_per_point)) * share


def money_round(amount: Decimal | Fraction, decimals: int = 2) -> Decimal:
    """Round a money total to the currency's ``decimals`` (half up), once, at the end."""
    exponent = Decimal(1).scaleb(-decimals)
    if isinstance(amount, Fraction):
        with localcontext() as context:
            context.prec = 60
            amount = Decimal(amount.numerator) / Decimal(amount.denominator)
    return amount.quantize(exponent, ROUND_HALF_UP)
