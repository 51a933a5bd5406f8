"""Rate limit per API key: a fixed-window counter in the cache, keyed by the key's prefix.

DRF's ``SimpleRateThrottle`` keeps every request's timestamp in one cache entry, which is
heavy at thousands of requests a minute; a counter per window costs one ``incr``. A burst
can reach twice the rate across a window boundary, which is acceptable for a limit that
protects the service rather than meters it.

While the cache is unreachable the counters live in the process
(``loyalty_site.core.counters``): each web process allows the full rate, so a key may make
up to that many times the rate until the cache is back, and requests keep being served.
"""

import time

from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from loyalty_site.core.counters import parse_rate, window_count
from programs.models import ApiKey

SCOPE = "api_key"


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
        used = window_count(key, self.duration + 1)
        request.rate_limit = (self.limit, max(0, self.limit - used), (window + 1) * self.duration)
        if used > self.limit:
            self._wait = (window + 1) * self.duration - now
            return False
        return True

    def wait(self) -> float:
        return max(1.0, self._wait)
