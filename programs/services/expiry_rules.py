"""When a lot of points expires under its program's policy: the one rule every writer of
lots asks (earning, awards, actions, occasions, imports, transfers)."""

from datetime import datetime

from dateutil.relativedelta import relativedelta
from django.utils import timezone

from programs.models import ExpiryPolicy, Program

BY_RULE = object()
"""``ledger.points_earn``'s default ``expires_at``: the lot expires by ``lot_expiry``."""


def lot_expiry(program: Program, earned_at: datetime) -> datetime | None:
    """When points earned at ``earned_at`` expire under the program's policy (None: never,
    or membership-wide inactivity, which the expiry job handles)."""
    if program.expiry_policy == ExpiryPolicy.FIXED_PERIOD:
        return earned_at + relativedelta(months=program.expiry_months)
    if program.expiry_policy == ExpiryPolicy.END_OF_FOLLOWING_YEAR:
        local = timezone.localtime(earned_at)
        return local.replace(
            year=local.year + 1, month=12, day=31, hour=23, minute=59, second=59, microsecond=0
        )
    return None
