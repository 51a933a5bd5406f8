"""Django's cache (Redis in production) as an aid that may go away, never a dependency.

Rate-limit counters, the API-key cache and the earn-rule cache live in the cache. When its
server cannot be reached, these functions log it, answer as an empty cache would (a get
finds nothing, a set or delete does nothing) and leave the server alone for
``PAUSE_SECONDS``, so that no request waits for a connection attempt on every call. The
callers fall back to what the cache saves them from: the database, a counter per process.
"""

import logging
import time

from django.core.cache import cache

try:
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - redis is installed with the project
    RedisError = OSError

logger = logging.getLogger("loyalty_site.cache")

# What a cache backend raises when its server is gone (refused, reset, timed out).
CACHE_ERRORS = (RedisError, OSError)
PAUSE_SECONDS = 5.0
_MISSING = object()
_paused_until = 0.0


def cache_reachable() -> bool:
    """False for ``PAUSE_SECONDS`` after the cache failed."""
    return time.monotonic() >= _paused_until


def cache_failed(exc: BaseException) -> None:
    """Record a failure of the cache server: log it (once per pause) and pause."""
    global _paused_until
    if cache_reachable():
        logger.warning(
            "cache unreachable, working without it for %ss: %s: %s",
            PAUSE_SECONDS,
            type(exc).__name__,
            exc,
        )
    _paused_until = time.monotonic() + PAUSE_SECONDS


def cache_resume() -> None:
    """Try the cache again on the next call (tests; a process that knows it is back)."""
    global _paused_until
    _paused_until = 0.0


def cache_get(key: str, default=None):
    if not cache_reachable():
        return default
    try:
        return cache.get(key, default)
    except CACHE_ERRORS as exc:
        cache_failed(exc)
        return default


def cache_set(key: str, value, timeout: float) -> None:
    if not cache_reachable():
        return
    try:
        cache.set(key, value, timeout)
    except CACHE_ERRORS as exc:
        cache_failed(exc)


def cache_delete(key: str) -> None:
    """Delete ``key``. While the server is unreachable nothing is deleted: an entry that
    must not outlive a change needs a short timeout as well."""
    if not cache_reachable():
        return
    try:
        cache.delete(key)
    except CACHE_ERRORS as exc:
        cache_failed(exc)
