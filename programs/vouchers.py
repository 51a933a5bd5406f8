"""Vouchers (a redemption's code) as a till, a member and staff see them: the code as
typed, the date a voucher stops being valid, and its status with ``expired`` derived.

Expiry: a voucher of a reward with ``voucher_valid_days`` = N, redeemed on day D, is valid
to the end of day D + N in the site's time zone (``TIME_ZONE``; programs have none of
their own), i.e. until 23:59:59 that day; N = 0 is the day of redemption only; no N, no
expiry. The end of a day rather than redemption time + N x 24 hours, because the member
reads "gültig bis 3. Januar" and may use the voucher all that day, as on paper.

``expired`` is not stored: ``Redemption.status`` stays ``issued`` and the status shown is
derived from ``expires_at`` (``voucher_status``), so nothing has to run at midnight and a
voucher is refused the second it expires. An expired voucher gives no points back: it can
no longer be used nor cancelled (``services.rewards.redemption_cancel``); until it expires
the member may cancel it as before. Staff can make a goodwill credit instead.
"""

import re
from datetime import datetime, time, timedelta

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from programs.models import Redemption, RedemptionStatus

CODE_LENGTH = 12  # without the hyphens: XXXX-XXXX-XXXX (``rewards.voucher_code_generate``)
VALID_TO = time(23, 59, 59)
_SEPARATORS = re.compile(r"[\s\-]")


class VoucherStatus(models.TextChoices):
    """``RedemptionStatus`` plus the derived ``expired``."""

    ISSUED = "issued", _("Issued")
    USED = "used", _("Used")
    CANCELLED = "cancelled", _("Cancelled")
    EXPIRED = "expired", pgettext_lazy("voucher", "Expired")


def voucher_code_clean(text: str) -> str:
    """The code as stored (``K7M2-P9QX-4TRA``) from what a till scanned or someone typed:
    any case, with or without hyphens or spaces."""
    raw = _SEPARATORS.sub("", text or "").upper()
    if len(raw) == CODE_LENGTH:
        return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
    return (text or "").strip().upper()


def voucher_expiry(valid_days: int | None, redeemed_at: datetime) -> datetime | None:
    """The last moment a voucher redeemed at ``redeemed_at`` is valid: 23:59:59 of the day
    ``valid_days`` after the day of redemption, in the site's time zone (None: never
    expires). Calendar days, so a change to or from summer time moves nothing."""
    if valid_days is None:
        return None
    zone = timezone.get_default_timezone()
    day = timezone.localtime(redeemed_at, zone).date() + timedelta(days=valid_days)
    return datetime.combine(day, VALID_TO, tzinfo=zone)


def voucher_is_expired(redemption: Redemption, now: datetime | None = None) -> bool:
    """An issued voucher past its ``expires_at`` (used and cancelled ones are what they are)."""
    return (
        redemption.status == RedemptionStatus.ISSUED
        and redemption.expires_at is not None
        and (now or timezone.now()) > redemption.expires_at
    )


def voucher_status(redemption: Redemption, now: datetime | None = None) -> str:
    """``issued`` (usable), ``used``, ``cancelled`` or ``expired``."""
    if voucher_is_expired(redemption, now):
        return VoucherStatus.EXPIRED.value
    return str(redemption.status)
