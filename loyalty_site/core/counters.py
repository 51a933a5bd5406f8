"""Fixed-window counters in the cache, with a counter per process while it is unreachable.

A counter per window costs one ``incr``. A burst can reach twice the rate across a window
boundary, which is acceptable for limits that protect the service rather than meter it.
While the cache is unreachable the counters live in the process (``LocalCounters``): each
process allows the full rate, so a client may get that many times the rate until the cache
is back; never no limit. Used by the API's rate limit and the portal's abuse limits.
"""

import threading
import time

from django.core.cache import cache

from loyalty_site.core.cache import CACHE_ERRORS, cache_failed, cache_reachable

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """``"6000/min"`` -> (6000, 60). Same format as DRF's throttle rates."""
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[0]]


class LocalCounters:
    """Fixed-window counters in this process, for while the cache is unreachable."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[float, int]] = {}  # key: (expires, count)

    def add_one(self, key: str, timeout: int) -> int:
        now = time.monotonic()
        with self._lock:
            expires, count = self._counts.get(key, (now + timeout, 0))
            if expires <= now:
                expires, count = now + timeout, 0
            if key not in self._counts:  # a new window: forget the ended ones
                for old in [k for k, (end, _) in self._counts.items() if end <= now]:
                    del self._counts[old]
            self._counts[key] = (expires, count + 1)
            return count + 1


local_counters = LocalCounters()


def window_count(key: str, timeout: int) -> int:
    """Add one to the window's counter, in the cache or, while it is unreachable, in
    the process."""
    if cache_reachable():
        try:
            return _count_shared(key, timeout)
        except CACHE_ERRORS as exc:
            cache_failed(exc)
    return local_counters.add_one(key, timeout)


def _count_shared(key: str, timeout: int) -> int:
    """One cache round trip except for a window's first request (``incr`` keeps the
    expiry the counter was created with)."""
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
