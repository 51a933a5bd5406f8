"""Proof that the card's holder is at the till, for spending points or using a voucher.

A card number identifies a member; it is printed and may be copied, so it authorises
nothing. To spend, a till also sends one of:

* ``code``: what the portal's rotating QR code holds, ``<card number>.<8 digits>`` (or the
  8 digits alone, typed). The digits are an HMAC of the membership, its card number and
  the 30-second time step, keyed by the site's secret: valid for the current step and the
  one before (so up to a minute), and each works once (``CardProof.last_code_step``).
* ``pin``: 4 to 6 digits the customer set in the portal, stored hashed like a password.
  Five wrong PINs in a row lock it for 15 minutes, doubling with every further five (at
  most a day), so a till cannot try its way through 10,000 PINs.

``proof_check`` records the code's step or a PIN failure under the ``CardProof`` row
lock. In the partner API it runs in the request's transaction, before anything else is
written, and a refusal is returned rather than raised (``programs.api.proofs``), so the
failure commits while an accepted code is used up only if the request succeeds. A retry
with the same Idempotency-Key is answered from the stored response without a second check.
"""

import hmac
import re
from datetime import datetime, timedelta
from itertools import pairwise

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _

from programs.errors import PinInvalid, PinLocked, PinNotSet, ProofInvalid, ProofRequired
from programs.models import CardProof, Membership

CODE_STEP_SECONDS = 30
CODE_DIGITS = 8
PIN_FAILURES_PER_LOCK = 5
PIN_LOCK = timedelta(minutes=15)
PIN_LOCK_MAX = timedelta(days=1)
_CODE = re.compile(r"^(?:(?P<card>\d{16})[.\-: ])?(?P<digits>\d{8})$")
_PIN = re.compile(r"^\d{4,6}$")


def code_step(now: datetime) -> int:
    return int(now.timestamp()) // CODE_STEP_SECONDS


def code_digits(membership: Membership, step: int) -> str:
    """The 8 digits of ``membership``'s code in time step ``step`` (dynamic truncation of
    an HMAC-SHA256, as HOTP does)."""
    mac = salted_hmac(
        "programs.card_proofs.code",
        f"{membership.pk}:{membership.card_number}:{step}",
        algorithm="sha256",
    ).digest()
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(value % 10**CODE_DIGITS).zfill(CODE_DIGITS)


def code_current(membership: Membership, *, now: datetime | None = None) -> tuple[str, datetime]:
    """What the portal shows now: the QR code's text and when it stops being valid."""
    now = now or timezone.now()
    step = code_step(now)
    valid_until = datetime.fromtimestamp((step + 2) * CODE_STEP_SECONDS, tz=now.tzinfo)
    return f"{membership.card_number}.{code_digits(membership, step)}", valid_until


def proof_check(membership: Membership, proof: dict | None, *, now: datetime | None = None):
    """Accept ``proof`` (``{"code": ...}`` or ``{"pin": ...}``) for ``membership`` or raise
    ``ProofRequired``, ``ProofInvalid``, ``PinNotSet`` or ``PinLocked``."""
    now = now or timezone.now()
    proof = proof or {}
    code, pin = (proof.get("code") or "").strip(), (proof.get("pin") or "").strip()
    if code:
        _code_check(membership, code, now)
    elif pin:
        _pin_check(membership, pin, now)
    else:
        raise ProofRequired()


def _code_check(membership: Membership, code: str, now: datetime) -> None:
    match = _CODE.match(code)
    if match is None or (match["card"] and match["card"] != membership.card_number):
        raise ProofInvalid()
    current = code_step(now)
    step = next(
        (
            s
            for s in (current, current - 1)
            if hmac.compare_digest(code_digits(membership, s), match["digits"])
        ),
        None,
    )
    if step is None:
        raise ProofInvalid()
    with transaction.atomic():
        card = _card_locked(membership)
        if card.last_code_step is not None and step <= card.last_code_step:
            raise ProofInvalid()
        card.last_code_step = step
        card.save(update_fields=["last_code_step"])


def _pin_check(membership: Membership, pin: str, now: datetime) -> None:
    refused = None
    with transaction.atomic():
        card = _card_locked(membership)
        if not card.pin_hash:
            raise PinNotSet()
        if card.pin_locked_until and card.pin_locked_until > now:
            raise PinLocked(locked_until=card.pin_locked_until.isoformat())
        if _PIN.match(pin) and check_password(pin, card.pin_hash):
            if card.pin_failures:
                card.pin_failures, card.pin_locked_until = 0, None
                card.save(update_fields=["pin_failures", "pin_locked_until"])
            return
        card.pin_failures += 1
        refused = ProofInvalid()
        if card.pin_failures % PIN_FAILURES_PER_LOCK == 0:
            locks = card.pin_failures // PIN_FAILURES_PER_LOCK
            card.pin_locked_until = now + min(PIN_LOCK * 2 ** (locks - 1), PIN_LOCK_MAX)
            refused = PinLocked(locked_until=card.pin_locked_until.isoformat())
        card.save(update_fields=["pin_failures", "pin_locked_until"])
    raise refused  # after the commit: the failure counts


def _card_locked(membership: Membership) -> CardProof:
    card, _created = CardProof.objects.select_for_update().get_or_create(membership=membership)
    return card


def pin_error(pin: str) -> str | None:
    """Why ``pin`` cannot be a PIN, or None."""
    if not _PIN.match(pin or ""):
        return str(_("A PIN has 4 to 6 digits."))
    digits = [int(c) for c in pin]
    steps = {b - a for a, b in pairwise(digits)}
    if len(set(digits)) == 1 or steps in ({1}, {-1}):
        return str(_("This PIN is too easy to guess (like 1111 or 1234). Choose another."))
    return None


def pin_set(membership: Membership, pin: str, *, now: datetime | None = None) -> None:
    """Set (or replace) the customer's PIN; it also lifts a lock."""
    if message := pin_error(pin):
        raise PinInvalid(message)
    with transaction.atomic():
        card = _card_locked(membership)
        card.pin_hash = make_password(pin)
        card.pin_set_at = now or timezone.now()
        card.pin_failures, card.pin_locked_until = 0, None
        card.save(update_fields=["pin_hash", "pin_set_at", "pin_failures", "pin_locked_until"])


def pin_clear(membership: Membership) -> None:
    CardProof.objects.filter(membership=membership).update(
        pin_hash="", pin_set_at=None, pin_failures=0, pin_locked_until=None
    )
