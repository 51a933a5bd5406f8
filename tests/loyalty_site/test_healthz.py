"""/healthz: database and broker decide 200 or 503; the worker heartbeat is reported only."""

import os
import time

import pytest
from django.core.cache import cache
from django.db import connection
from sqlalchemy.pool import NullPool

from loyalty_site.broker import DATABASE_BROKER_TRANSPORT, database_broker_url
from loyalty_site.celery import app
from loyalty_site.health import HEARTBEAT_KEY, HEARTBEAT_STALE_AFTER, record_worker_heartbeat
from loyalty_site.tasks import heartbeat_task

UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"


@pytest.fixture
def broker(monkeypatch):
    """The configured broker: REDIS_URL's, else the database broker."""
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery lets it override conf
    monkeypatch.delenv("CELERY_BROKER_WRITE_URL", raising=False)
    return app


def broker_point_at(monkeypatch, url: str, transport: str | None = None, options=None) -> None:
    monkeypatch.setattr(app.conf, "broker_url", url)
    monkeypatch.setitem(app.conf, "broker_transport", transport)
    monkeypatch.setitem(app.conf, "broker_transport_options", options or {})


@pytest.fixture
def unreachable_broker(broker, monkeypatch):
    broker_point_at(monkeypatch, UNREACHABLE_BROKER)
    return broker


@pytest.fixture
def database_broker(broker, monkeypatch):
    """The database broker on the test database, whatever the environment configures; no
    connection pool, so that no connection outlives the test database."""
    options = {"connect_args": {"connect_timeout": 2}, "poolclass": NullPool}
    url = database_broker_url(connection.settings_dict)
    broker_point_at(monkeypatch, url, DATABASE_BROKER_TRANSPORT, options)
    return broker


@pytest.fixture
def no_heartbeat():
    cache.delete(HEARTBEAT_KEY)
    yield
    cache.delete(HEARTBEAT_KEY)


@pytest.mark.django_db
def test_healthy(client, broker, no_heartbeat):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert body["failed"] == []
    assert body["checks"]["database"] == {"ok": True, "vendor": connection.vendor}
    assert body["checks"]["broker"]["ok"] is True
    assert set(body["worker"]) >= {"alive"}


@pytest.mark.django_db
def test_reports_the_configured_broker_transport(client, broker):
    transport = client.get("/healthz").json()["checks"]["broker"]["transport"]
    assert transport == ("redis" if os.environ.get("REDIS_URL") else "sqlalchemy")


@pytest.mark.redis
@pytest.mark.django_db
def test_checks_a_real_redis_broker(client, broker):
    assert broker.conf.broker_url.startswith("redis://")
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == {"ok": True, "transport": "redis"}


@pytest.mark.django_db
def test_unreachable_broker_answers_503_naming_it(client, unreachable_broker):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["failed"] == ["broker"]
    assert body["checks"]["broker"]["ok"] is False
    assert "127.0.0.1:1" in body["checks"]["broker"]["error"]
    assert body["checks"]["database"]["ok"] is True


@pytest.mark.django_db
def test_recovers_when_the_broker_comes_back(client, broker, monkeypatch):
    configured = broker.conf.broker_url
    with monkeypatch.context() as patch:
        broker_point_at(patch, UNREACHABLE_BROKER)
        assert client.get("/healthz").status_code == 503

    assert broker.conf.broker_url == configured
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_worker_not_alive_without_heartbeat_does_not_fail_the_check(client, broker, no_heartbeat):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["worker"] == {"alive": False, "last_heartbeat_seconds_ago": None}


@pytest.mark.django_db
def test_worker_alive_after_heartbeat(client, broker, no_heartbeat):
    record_worker_heartbeat()

    worker = client.get("/healthz").json()["worker"]

    assert worker["alive"] is True
    assert 0 <= worker["last_heartbeat_seconds_ago"] < 5


@pytest.mark.django_db
def test_worker_not_alive_when_heartbeat_is_stale(client, broker, no_heartbeat):
    cache.set(HEARTBEAT_KEY, time.time() - HEARTBEAT_STALE_AFTER - 5)

    response = client.get("/healthz")

    assert response.status_code == 200
    worker = response.json()["worker"]
    assert worker["alive"] is False
    assert worker["last_heartbeat_seconds_ago"] >= HEARTBEAT_STALE_AFTER


@pytest.mark.django_db
def test_heartbeat_task_marks_worker_alive(client, broker, no_heartbeat):
    heartbeat_task.apply()

    assert client.get("/healthz").json()["worker"]["alive"] is True


def test_post_not_allowed(client):
    response = client.post("/healthz")

    assert response.status_code == 405
    assert response["Allow"] == "GET"


@pytest.mark.django_db
def test_never_cached(client, broker):
    response = client.get("/healthz")

    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_checks_the_database_broker_on_its_database(client, database_broker):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["checks"]["broker"] == {"ok": True, "transport": "sqlalchemy"}


@pytest.mark.django_db
def test_database_broker_on_an_unreachable_server_answers_503(client, database_broker, monkeypatch):
    # Connecting builds an SQLAlchemy engine without a round trip: the check must make one.
    monkeypatch.setattr(database_broker.conf, "broker_url", "postgresql://postgres@127.0.0.1:1/x")

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["failed"] == ["broker"]
    assert "port 1 failed" in response.json()["checks"]["broker"]["error"]
