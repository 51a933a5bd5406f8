"""Abuse limits of the public portal pages: sign-up, confirmation resend, password reset
and referral landing, per client address and per e-mail address (``PORTAL_LIMITS``).

Counters are fixed windows in the cache, per process while it is unreachable
(``loyalty_site.core.counters``): never no limit. E-mail addresses are counted by a hash
of their normalised form, so the cache holds no address. Login has its own lockout
(django-axes)."""

import hashlib
import math
import time

from django.conf import settings
from django.shortcuts import render

from customers.emails import email_normalize
from loyalty_site.core.counters import parse_rate, window_count
from loyalty_site.portal.views.base import client_ip

# Limits of actions that ``PORTAL_LIMITS`` (settings) does not name.
DEFAULT_LIMITS = {
    # guessing the current password of a signed-in session
    "password_change": {"ip": "30/hour", "email": "10/hour"},
}


def _keys(request, email: str | None) -> list[tuple[str, str]]:
    keys = []
    if ip := client_ip(request):
        keys.append(("ip", ip))
    if email and email.strip():
        digest = hashlib.sha256(email_normalize(email.strip()).encode()).hexdigest()[:32]
        keys.append(("email", digest))
    return keys


def limit_wait(action: str, request, *, email: str | None = None) -> float | None:
    """Count this attempt at ``action``; the seconds until the client may try again when it
    is over one of the action's limits, else None."""
    rules = settings.PORTAL_LIMITS.get(action) or DEFAULT_LIMITS[action]
    now = time.time()
    wait = None
    for kind, value in _keys(request, email):
        if kind not in rules:
            continue
        allowed, seconds = parse_rate(rules[kind])
        window = int(now // seconds)
        used = window_count(f"portal:{action}:{kind}:{value}:{window}", seconds + 1)
        if used > allowed:
            wait = max(wait or 0.0, (window + 1) * seconds - now)
    return wait


def too_many_attempts(request, wait: float):
    """The 429 page: what happened and when to try again (minutes, rounded up)."""
    response = render(
        request,
        "portal/too_many_attempts.html",
        {"minutes": max(1, math.ceil(wait / 60))},
        status=429,
    )
    response["Retry-After"] = str(max(1, math.ceil(wait)))
    return response
