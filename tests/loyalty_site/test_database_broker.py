"""The database broker (kombu's SQLAlchemy transport on PostgreSQL, loyalty_site/broker.py):
several producers and consumers at once, each message delivered exactly once; delivered
rows removed once old. Runs on the test database whatever broker the environment sets."""

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from kombu import Connection
from sqlalchemy.pool import NullPool

from loyalty_site.broker import (
    DATABASE_BROKER_TRANSPORT,
    broker_prepare,
    database_broker_url,
    database_broker_waiting,
    delivered_messages_delete,
)
from loyalty_site.celery import app

PRODUCERS = 3
CONSUMERS = 2
MESSAGES_PER_PRODUCER = 100
DRAIN_TIMEOUT = 60
# No pool: no connection outlives the test database.
OPTIONS = {"poolclass": NullPool, "connect_args": {"connect_timeout": 5}}


@pytest.fixture
def database_broker(db, monkeypatch):
    """The app's broker pointed at the test database; a queue of this test's own."""
    url = database_broker_url(connection.settings_dict)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.setattr(app.conf, "broker_url", url)
    monkeypatch.setitem(app.conf, "broker_transport", DATABASE_BROKER_TRANSPORT)
    monkeypatch.setitem(app.conf, "broker_transport_options", OPTIONS)
    monkeypatch.setitem(app.conf, "task_default_queue", f"test-{uuid.uuid4().hex[:12]}")
    broker_prepare(app)
    yield app
    with connect() as conn:
        conn.SimpleQueue(app.conf.task_default_queue).clear()


def connect() -> Connection:
    return Connection(
        app.conf.broker_url,
        transport=DATABASE_BROKER_TRANSPORT,
        transport_options=OPTIONS,
    )


def test_concurrent_producers_and_consumers_see_each_message_once(database_broker):
    queue = database_broker.conf.task_default_queue
    sent = {f"{p}-{n}" for p in range(PRODUCERS) for n in range(MESSAGES_PER_PRODUCER)}
    received: list[str] = []
    lock = threading.Lock()
    done = threading.Event()
    errors: list[BaseException] = []

    def produce(number: int) -> None:
        try:
            with connect() as conn:
                simple = conn.SimpleQueue(queue)
                for n in range(MESSAGES_PER_PRODUCER):
                    simple.put({"id": f"{number}-{n}"})
        except BaseException as exc:
            errors.append(exc)

    def consume() -> None:
        try:
            with connect() as conn:
                simple = conn.SimpleQueue(queue)
                while not done.is_set():
                    try:
                        message = simple.get(timeout=0.5)
                    except simple.Empty:
                        continue
                    message.ack()
                    with lock:
                        received.append(message.payload["id"])
                        if len(received) >= len(sent):
                            done.set()
        except BaseException as exc:
            errors.append(exc)
            done.set()

    threads = [threading.Thread(target=consume) for _ in range(CONSUMERS)]
    threads += [threading.Thread(target=produce, args=(p,)) for p in range(PRODUCERS)]
    for thread in threads:
        thread.start()
    done.wait(DRAIN_TIMEOUT)
    done.set()
    for thread in threads:
        thread.join(10)

    assert errors == []
    assert len(received) == len(sent), f"{len(received)} of {len(sent)} received"
    assert set(received) == sent
    time.sleep(0.5)  # a duplicate would arrive now
    with connect() as conn:
        assert database_broker_waiting(conn, queue) == 0


def test_old_delivered_messages_are_deleted_and_waiting_ones_kept(database_broker):
    queue = database_broker.conf.task_default_queue
    with connect() as conn:
        simple = conn.SimpleQueue(queue)
        for n in range(3):
            simple.put({"n": n})
        simple.get(timeout=5).ack()

    assert delivered_messages_delete(app=database_broker, older_than=timedelta(hours=1)) == 0
    assert delivered_messages_delete(app=database_broker, older_than=timedelta(0)) >= 1
    assert delivered_messages_delete(app=database_broker, older_than=timedelta(0)) == 0
    with connect() as conn:
        assert database_broker_waiting(conn, queue) == 2
        simple = conn.SimpleQueue(queue)
        assert {simple.get(timeout=5).payload["n"] for _ in range(2)} == {1, 2}


def test_the_clean_up_does_nothing_with_another_broker(monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.setattr(app.conf, "broker_url", "memory://")
    monkeypatch.setitem(app.conf, "broker_transport", None)

    assert delivered_messages_delete(app=app, older_than=timedelta(0)) == 0


def test_broker_url_carries_libpq_options_only():
    """SQLAlchemy hands the URL's query to libpq: Django's and psycopg's own options (the
    prepared balance read's ``prepare_threshold``) would make every broker connection fail."""
    database = {
        "USER": "loyalty",
        "PASSWORD": "",
        "HOST": "db.internal",
        "PORT": 5432,
        "NAME": "loyalty",
        "OPTIONS": {
            "sslmode": "require",
            "prepare_threshold": 2**31 - 1,
            "isolation_level": 1,
            "server_side_binding": True,
        },
    }
    assert (
        database_broker_url(database)
        == "postgresql://loyalty@db.internal:5432/loyalty?sslmode=require"
    )
