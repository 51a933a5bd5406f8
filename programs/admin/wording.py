"""German words for codes and system reasons the services store in English: referral risk
reasons, rejection reasons and the reasons of ledger entries, statuses and purchases.
Translated when shown; the stored rows stay as written (the ledger is append-only).
A reason staff typed themselves is shown as typed."""

import re

from django.utils.translation import gettext_lazy as _

RISK_REASONS = {
    "self_referral_email": _("same mailbox as the referrer"),
    "referral_loop": _("referral loop: the friend referred the referrer"),
    "friend_not_new": _("the friend had bought before"),
    "referrer_cap_reached": _("the referrer's limit of rewarded referrals is reached"),
    "same_device": _("same device as the referrer"),
    "same_ip": _("same IP address as the referrer"),
    "same_payment_fingerprint": _("same payment method as the referrer"),
    "referrer_membership_closed": _("the referrer's membership is closed"),
    "qualifying purchase returned": _("the qualifying purchase was returned"),
}

# Fixed reasons the services write into ledger entries, status logs and purchases.
SYSTEM_REASONS = {
    "friend referred": _("Bonus for referring a friend"),
    "welcome bonus for joining through a referral": _("Welcome bonus for joining through a friend"),
    "welcome bonus: qualifying purchase returned": _(
        "Welcome bonus taken back: the qualifying purchase was returned"
    ),
    "membership not active": _("The membership is not active"),
    "customer data deleted": _("The customer's personal data was deleted"),
    "subscription fee": _("Fee for a tier subscription"),
}

# Reasons with a reference in them: (pattern, German text with the same named parts).
PATTERNS = [
    (re.compile(r"^order (?P<order>.+)$"), _("Order %(order)s")),
    (re.compile(r"^lot (?P<lot>\d+)$"), _("Points package %(lot)s")),
    (
        re.compile(r"^return (?P<refund>.+) of order (?P<order>.+)$"),
        _("Return %(refund)s of order %(order)s"),
    ),
    (
        re.compile(r"^returned order (?P<order>.+): points given back by a cancellation$"),
        _("Returned order %(order)s: points given back by a cancellation"),
    ),
]


def reason_text(reason: str) -> str:
    """A stored reason in the reader's language; free text staff typed stays as it is."""
    if not reason:
        return ""
    if reason in SYSTEM_REASONS:
        return str(SYSTEM_REASONS[reason])
    for pattern, text in PATTERNS:
        match = pattern.match(reason)
        if match:
            return str(text) % match.groupdict()
    return reason


def risk_reasons_text(codes) -> str:
    """Risk reason codes (a list, or a comma-separated rejection reason) as words."""
    if isinstance(codes, str):
        codes = [code.strip() for code in codes.split(",")]
    words = [str(RISK_REASONS.get(code, code)) for code in codes or () if code]
    return ", ".join(words)
