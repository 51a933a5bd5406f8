"""Rate limit per API key: a fixed-window counter in the cache, keyed by the key's prefix.

DRF's ``SimpleRateThrottle`` keeps every request's timestamp in one cache entry, which is
heavy at thousands of requests a minute; a counter per window costs one ``incr``. A burst
can reach twice the rate across a window boundary, which is acceptable for a limit that
protects the service rather than meters it.
"""

import time

from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from programs.models import ApiKey

SCOPE = "api_key"
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"6000/min"`` -> (6000, 60). Same format as DRF's throttle rates."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[0]]


def _count(key: str, timeout: int) -> int:
    """Add one to the window's counter: one cache round trip except for a window's first
    request (``incr`` keeps the expiry the counter was created with)."""
    try:
        return cache.incr(key)
    except ValueError:  # no counter yet (or it just expired)
        if cache.add(key, 1, timeout=timeout):
            return 1
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=timeout)
            return 1


class ApiKeyRateThrottle(BaseThrottle):
    def __init__(self):
        self.limit, self.duration = parse_rate(api_settings.DEFAULT_THROTTLE_RATES[SCOPE])
        self._wait = 0.0

    def allow_request(self, request, view) -> bool:
        if not isinstance(request.auth, ApiKey):
            return True
        now = time.time()
        window = int(now // self.duration)
        key = f"throttle:{SCOPE}:{request.auth.prefix}:{window}"
        used = _count(key, self.duration + 1)
        request.rate_limit = (self.limit, max(0, self.limit - used), (window + 1) * self.duration)
        if used > self.limit:
            self._wait = (window + 1) * self.duration - now
            return False
        return True

    def wait(self) -> float:
        return max(1.0, self._wait)
