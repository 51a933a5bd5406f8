"""Outages: Redis (cache and broker) or PostgreSQL unreachable. The API keeps taking
purchases without Redis and answers 503 problem details without the database; the portal
shows a page that says so; nothing is lost, and everything is awarded after recovery.

Redis is a server of the test's own that it stops and starts; the database is reached
through a TCP proxy the test cuts (tests/api/faults.py)."""

import time

import pytest
from django.conf import settings
from django.db import close_old_connections, connection
from django.test import Client, override_settings

from loyalty_site.celery import app
from loyalty_site.core.cache import cache_resume
from programs import tasks
from programs.models import ApiKey, Purchase, PurchaseStatus
from programs.services.api_keys import api_key_revoke
from tests.api.conftest import client_for, enroll
from tests.api.faults import RedisServer, TcpProxy
from tests.factories import PartnerFactory, ProgramFactory, UserFactory, standard_tiers

PROBLEM = "application/problem+json"
FIVE_PER_MINUTE = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"api_key": "5/min"}}


def publisher_reset() -> None:
    """The next publish connects to the broker_url configured now (see
    tests/integration/conftest.py)."""
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def world(transactional_db):
    program = ProgramFactory(slug="treue", name="Treue")
    standard_tiers(program)
    partner = PartnerFactory(slug="webshop", programs=[program])
    return {"program": program, "partner": partner, "api": client_for(partner)}


@pytest.fixture
def own_redis(world):
    """Cache and broker on a Redis server of this test's own (eager mode off)."""
    server = RedisServer()
    server.start()
    cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": server.url,
        "OPTIONS": settings.CACHES["default"].get("OPTIONS", {}),
    }
    saved = {key: getattr(app.conf, key) for key in ("task_always_eager", "broker_url")}
    app.conf.update(task_always_eager=False, broker_url=server.url.replace("/0", "/1"))
    publisher_reset()
    try:
        with override_settings(CACHES={"default": cache}, REST_FRAMEWORK=FIVE_PER_MINUTE):
            yield server
    finally:
        app.conf.update(saved)
        publisher_reset()
        server.stop()
        cache_resume()


def post_purchase(api, order_id, amount="20.00"):
    body = {"member": "c-1", "order_id": order_id, "amount": amount}
    return api.post("/api/v1/purchases", body, format="json")


@pytest.mark.redis
def test_without_redis_purchases_are_accepted_and_awarded_after_recovery(
    world, own_redis, monkeypatch
):
    api = world["api"]
    enroll(api, "c-1")
    assert post_purchase(api, "before").status_code == 202
    own_redis.stop()

    started = time.monotonic()
    accepted = [post_purchase(api, f"during-{n}") for n in range(3)]
    assert [r.status_code for r in accepted] == [202, 202, 202], accepted[0].content
    assert time.monotonic() - started < 10
    assert api.get("/api/v1/members/c-1/balance").status_code == 200

    health = Client().get("/healthz")
    assert health.status_code == 503
    assert health.json()["failed"] == ["broker"]

    # Redis is back (empty: without persistence it lost what it held). The sweeper finds
    # what was not enqueued; with eager mode back on it awards in this process.
    own_redis.start()
    cache_resume()
    app.conf.task_always_eager = True
    monkeypatch.setattr(tasks, "SWEEP_AFTER_SECONDS", 0)
    tasks.sweep_received_purchases_task()
    statuses = set(Purchase.objects.values_list("status", flat=True))
    assert statuses == {PurchaseStatus.AWARDED}
    assert Purchase.objects.count() == 4
    balance = api.get("/api/v1/members/c-1/balance").json()["programs"][0]
    assert balance["available"] == 80


@pytest.mark.redis
def test_without_redis_the_rate_limit_is_kept_per_process(world, own_redis):
    api = world["api"]
    own_redis.stop()
    remaining = []
    for _ in range(5):
        response = api.get("/api/v1/members")
        assert response.status_code == 200, response.content
        remaining.append(response["X-RateLimit-Remaining"])
    assert remaining == ["4", "3", "2", "1", "0"]
    refused = api.get("/api/v1/members")
    assert refused.status_code == 429
    assert refused["Content-Type"] == PROBLEM
    assert int(refused["Retry-After"]) >= 1


@pytest.mark.redis
def test_without_redis_a_revoked_key_is_refused_at_once(world, own_redis):
    api = world["api"]
    assert api.get("/api/v1/members").status_code == 200  # the key is cached now
    own_redis.stop()
    assert api.get("/api/v1/members").status_code == 200  # read from the database
    api_key_revoke(api_key=ApiKey.objects.get(pk=api.api_key.pk))
    refused = api.get("/api/v1/members")
    assert refused.status_code == 401
    assert refused["Content-Type"] == PROBLEM


@pytest.fixture
def database_proxy(world):
    """This process's database connection goes through a proxy the test can cut."""
    db = connection.settings_dict
    if (db["HOST"] or "").startswith("/"):
        pytest.skip("the database is reached through a Unix socket")
    proxy = TcpProxy(db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432))
    saved = db["HOST"], db["PORT"]
    connection.close()
    db["HOST"], db["PORT"] = "127.0.0.1", str(proxy.port)
    try:
        yield proxy
    finally:
        proxy.restore()
        connection.close()
        db["HOST"], db["PORT"] = saved
        proxy.stop()


def assert_database_problem(response) -> None:
    assert response.status_code == 503, response.content[:300]
    assert response["Content-Type"] == PROBLEM
    assert int(response["Retry-After"]) > 0
    body = response.json()
    assert body["code"] == "database_unavailable"
    assert body["status"] == 503
    assert "retry" in body["detail"]


def test_without_the_database_every_api_answer_is_503_problem(world, database_proxy):
    api = world["api"]
    enroll(api, "c-1")
    assert post_purchase(api, "before").status_code == 202
    database_proxy.cut()

    assert_database_problem(post_purchase(api, "during"))
    assert_database_problem(api.get("/api/v1/members/c-1/balance"))
    assert_database_problem(api.put("/api/v1/members/c-2", {"programs": ["treue"]}))
    assert_database_problem(api.get("/api/v1/members"))
    unknown_key = Client(HTTP_AUTHORIZATION="Bearer lk_live_abcdefgh_" + "A" * 43)
    assert_database_problem(unknown_key.get("/api/v1/members"))  # not cached: looked up
    health = Client().get("/healthz")
    assert health.status_code == 503
    assert "database" in health.json()["failed"]

    database_proxy.restore()
    close_old_connections()  # what the next request's start does
    assert post_purchase(api, "after").status_code == 202
    assert set(Purchase.objects.values_list("order_id", flat=True)) == {"before", "after"}


def test_without_the_database_the_portal_shows_a_friendly_page(world, database_proxy):
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    database_proxy.cut()
    for path in ("/admin/", "/portal/", "/"):
        response = staff.get(path)
        assert response.status_code == 503, (path, response.status_code)
        assert response["Content-Type"].startswith("text/html")
        assert int(response["Retry-After"]) > 0
        page = response.content.decode()
        assert "Gleich wieder da" in page
        assert "Punkte und Gutscheine sind sicher" in page
        assert "Traceback" not in page
    english = staff.get("/en/admin/")
    assert english.status_code == 503
    assert "Back shortly" in english.content.decode()
