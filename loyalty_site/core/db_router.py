"""Reads that may lag go to the read replica (``DATABASE_REPLICA_URL``); everything else to
the primary.

``ReplicaReadMiddleware`` decides per request whether its reads may come from the replica:
only safe requests (GET, HEAD, OPTIONS) under ``REPLICA_READ_PATHS`` (portal pages, the
staff metrics dashboard, the partner API), and only when the same client has not written
lately. ``ReplicaRouter.db_for_read`` then sends a read to the replica when the request
allows it, the read is not inside ``transaction.atomic`` (``select_for_update`` needs a
transaction, so it always reads the primary), the model is not one that must never be
stale (``REPLICA_PRIMARY_MODELS``: API keys, so that a revocation is effective at once),
and the replica answers with a lag below ``REPLICA_MAX_LAG_SECONDS``. Writes, the admin,
Celery tasks and management commands use the primary; a task may opt in with
``replica_reads()``.

Read-your-writes: after an unsafe request (POST, PUT, PATCH, DELETE) the client is pinned
to the primary. The pin is a short-lived entry in Django's cache (Redis in a deployment),
keyed by a hash of the API key the request carried or of the browser's session cookie,
so every web process on every machine sees it; a signed cookie would serve browsers only,
while partner tills keep no cookies. The pin holds the time of the write: the client reads
the primary for ``REPLICA_PIN_SECONDS`` after it, and beyond that for as long as the
replica's measured lag could still hide the write. When the cache cannot be reached, no
pin can be seen, so the request reads the primary.

The lag is measured on the replica (``now() - pg_last_xact_replay_timestamp()``, zero when
everything received is replayed) and kept per process for ``LAG_CHECK_SECONDS``. A replica
that cannot be reached counts as infinitely late for that long: reads fall back to the
primary instead of failing.
"""

import hashlib
import logging
import time
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from loyalty_site.core.cache import cache_get, cache_reachable, cache_set

logger = logging.getLogger("loyalty_site.replica")

REPLICA_ALIAS = "replica"
LAG_CHECK_SECONDS = 2.0
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PIN_PREFIX = "replica-pin:"

# True while the current request (or a task inside ``replica_reads()``) may read the replica.
_replica_allowed: ContextVar[bool] = ContextVar("replica_allowed", default=False)

# Per process: (monotonic time of the measurement, lag in seconds or None when unreachable).
_lag_measured: tuple[float, float | None] = (float("-inf"), None)

LAG_SQL = """
    SELECT CASE
        WHEN NOT pg_is_in_recovery() THEN 0
        WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0
        ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 'Infinity')
    END
"""


def replica_configured() -> bool:
    return REPLICA_ALIAS in connections.settings


def replica_lag() -> float | None:
    """Seconds the replica is behind (measured at most every ``LAG_CHECK_SECONDS`` per
    process); None when it cannot be reached or no replica is configured."""
    global _lag_measured
    if not replica_configured():
        return None
    measured_at, lag = _lag_measured
    if time.monotonic() - measured_at < LAG_CHECK_SECONDS:
        return lag
    connection = connections[REPLICA_ALIAS]
    try:
        connection.close_if_health_check_failed()
        with connection.cursor() as cursor:
            cursor.execute(LAG_SQL)
            lag = float(cursor.fetchone()[0])
    except DatabaseError as exc:
        _replica_down(exc)
        return None
    _lag_measured = (time.monotonic(), lag)
    return lag


def replica_lag_forget() -> None:
    """Measure again on the next read (tests; after changing the replica's settings)."""
    global _lag_measured
    _lag_measured = (float("-inf"), None)


def _replica_down(exc: BaseException) -> None:
    global _lag_measured
    logger.warning("read replica unreachable, reading the primary: %s", exc)
    connections[REPLICA_ALIAS].close()
    _lag_measured = (time.monotonic(), None)


def replica_usable() -> bool:
    """The replica is fresh enough, and its connection works: a replica that went away
    since the last measurement is noticed here, before a query of the request fails."""
    lag = replica_lag()
    if lag is None or lag >= settings.REPLICA_MAX_LAG_SECONDS:
        return False
    connection = connections[REPLICA_ALIAS]
    try:
        connection.close_if_health_check_failed()  # once per request (CONN_HEALTH_CHECKS)
        connection.ensure_connection()
    except DatabaseError as exc:
        _replica_down(exc)
        return False
    return True


@contextmanager
def replica_reads(allowed: bool = True):
    """Reads inside the block may (or, with ``allowed=False``, may not) use the replica:
    for a Celery task that reads much and tolerates lag."""
    token = _replica_allowed.set(allowed)
    try:
        yield
    finally:
        _replica_allowed.reset(token)


class ReplicaRouter:
    """Routes reads to the replica when the current context allows it and the replica is
    fresh enough; every write, and every migration, to the primary."""

    def db_for_read(self, model, **hints):
        if not _replica_allowed.get() or not replica_configured():
            return DEFAULT_DB_ALIAS
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return DEFAULT_DB_ALIAS
        if model._meta.label in settings.REPLICA_PRIMARY_MODELS:
            return DEFAULT_DB_ALIAS
        return REPLICA_ALIAS if replica_usable() else DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica holds the same rows as the primary

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS


def _pin_keys(request) -> list[str]:
    """Cache keys of the client behind ``request``: its API key and its session cookie,
    hashed (the cache never holds a credential)."""
    credentials = []
    header = request.headers.get("Authorization", "").strip()
    api_key = header.partition(" ")[2].strip() or request.headers.get("X-Api-Key", "").strip()
    if api_key:
        credentials.append("key:" + api_key)
    session_cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if session_cookie:
        credentials.append("session:" + session_cookie)
    session = getattr(request, "session", None)
    session_key = getattr(session, "session_key", None)  # a new key after a login
    if session_key and session_key != session_cookie:
        credentials.append("session:" + session_key)
    return [PIN_PREFIX + hashlib.sha256(c.encode()).hexdigest() for c in credentials]


def _pinned(request) -> bool:
    """True when the client wrote so recently that the replica may not show it yet."""
    keys = _pin_keys(request)
    if not keys:
        return False
    if not cache_reachable():
        return True
    now = time.time()
    for key in keys:
        written_at = cache_get(key)
        if written_at is None:
            continue
        since = now - written_at
        if since < settings.REPLICA_PIN_SECONDS:
            return True
        lag = replica_lag()
        if lag is None or lag >= since:
            return True
    return not cache_reachable()  # a lookup failed just now: the pin cannot be ruled out


class ReplicaReadMiddleware:
    """Lets reads of lag-tolerant requests go to the replica, and pins a client that has
    just written to the primary. Sits before the session middleware: it needs only the
    request's headers and cookies, and sees the session key a login has just created."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.read_paths = tuple(settings.REPLICA_READ_PATHS)

    def __call__(self, request):
        allowed = (
            request.method in SAFE_METHODS
            and request.path_info.startswith(self.read_paths)
            and not _pinned(request)
        )
        if allowed and replica_configured():
            # Check the replica's connection at its first use in this request, as Django
            # does for every connection when a request starts (not under the test client).
            connections[REPLICA_ALIAS].health_check_done = False
        token = _replica_allowed.set(allowed)
        try:
            response = self.get_response(request)
        finally:
            _replica_allowed.reset(token)
        if request.method not in SAFE_METHODS:
            # The longest time the pin may be needed: beyond it the replica is not used.
            timeout = max(settings.REPLICA_PIN_SECONDS, settings.REPLICA_MAX_LAG_SECONDS) + 1
            now = time.time()
            for key in _pin_keys(request):
                cache_set(key, now, timeout)
        return response
