"""What one purchase may carry: the bounds checked at the door and stated in the API schema.

* ``MAX_AMOUNT``: the largest amount of a purchase, of one line (unit price x quantity) and
  of a refund, in the program's currency: 99,999,999.99 (eight whole digits).
* ``MAX_POINTS``: the most points one purchase may be expected to earn. A ledger entry
  holds a 32-bit integer (up to 2,147,483,647); balances and totals are 64-bit. At one
  point per unit the largest amount earns a tenth of this, which leaves room for tier,
  rule and campaign multipliers; a program whose rules promise more is refused with
  ``points_out_of_range`` instead of failing when the points are awarded.
* ``MAX_FUTURE_SKEW``: how far a purchase or action may lie in the future (clock skew of
  a till). How far back it may lie is the program's ``history_starts_on``.
"""

from datetime import timedelta
from decimal import Decimal

MAX_AMOUNT_WHOLE_DIGITS = 8
MAX_AMOUNT = Decimal("99999999.99")
MAX_POINTS = 1_000_000_000
MAX_FUTURE_SKEW = timedelta(minutes=10)
