"""Shared fixtures and the rule that CI never silently skips backend-dependent tests.

Every test runs on PostgreSQL: DATABASE_URL's server, else the embedded one under var/.
Tests marked ``redis`` need a real broker; tests marked ``e2e`` need Debian's Chromium.
Locally, without REDIS_URL / /usr/bin/chromium, they are skipped with a note. With CI set
they must run: a missing or unreachable backend fails the run.
"""

import os

import pytest

IN_CI = bool(os.environ.get("CI"))
E2E_CHROMIUM = os.environ.get("E2E_CHROMIUM", "/usr/bin/chromium")


def pytest_configure(config):
    if not IN_CI:
        return
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        raise pytest.UsageError("CI is set but DATABASE_URL does not point at PostgreSQL.")
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url.startswith("redis://"):
        raise pytest.UsageError("CI is set but REDIS_URL is not set.")
    import redis

    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        raise pytest.UsageError(
            f"CI is set but Redis at {redis_url} is unreachable: {exc}"
        ) from exc


def _backend_missing(item) -> str | None:
    if item.get_closest_marker("redis") and not os.environ.get("REDIS_URL"):
        return "needs Redis (set REDIS_URL=redis://...)"
    if item.get_closest_marker("e2e") and not os.path.exists(E2E_CHROMIUM):
        return f"needs Chromium at {E2E_CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(autouse=True)
def _require_backends(request):
    missing = _backend_missing(request.node)
    if missing:
        if IN_CI:
            pytest.fail(f"{missing}; CI must run this test, not skip it")
        pytest.skip(missing)


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the site's default language (German). A request that ends in an
    exception (a test of a failing write) leaves the language its view activated behind."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_counters():
    """Rate-limit windows last an hour: each test starts with none used (the test cache is
    in the process, and so are the counters kept while it is unreachable)."""
    from django.core.cache import cache

    from loyalty_site.core import counters

    cache.clear()
    counters.local_counters = counters.LocalCounters()
