"""A real Celery worker process against Redis and PostgreSQL, for the award pipeline tests.

The worker runs ``celery -A loyalty_site worker`` with the deployed settings
(``loyalty_site.settings``: no eager mode), pointed at pytest-django's test database, and
consumes queues of its own: each test routes every task as deployed (awards, messages, ...;
``loyalty_site.queues``) but to queue names with a prefix of its own, so no message left
over by another test or run can reach it.
The test process publishes to that queue for real: eager mode is off and the broker is
REDIS_URL. Each test leaves Redis as it found it: its queue, its bindings, any message a
killed worker left unacknowledged and its workers' remote-control bindings are deleted at
the end. (kombu's own index of expiring bindings, ``_kombu.binding_deadlines``, names only
the shared ``celery.pidbox`` exchange and is kombu's to maintain.)
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from loyalty_site import queues
from loyalty_site.celery import app
from programs.services.memberships import membership_enroll
from programs.services.purchases import purchase_record
from tests.factories import CustomerFactory, PartnerFactory, ProgramFactory, standard_tiers

READY_TIMEOUT = 30  # seconds for a worker to connect and report "ready"
OUTCOME_TIMEOUT = 30  # seconds for the database to reach the state a test waits for
STOP_TIMEOUT = 15  # seconds for a warm shutdown before the worker is killed
POLL_INTERVAL = 0.05
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"
PIDBOX_BINDING = "_kombu.binding.celery.pidbox"
BROKER_ENV = ("CELERY_BROKER_URL", "CELERY_BROKER_READ_URL", "CELERY_BROKER_WRITE_URL")


def worker_database_url() -> str:
    """DATABASE_URL of the database this test run uses (``test_...``), for the worker."""
    db = connection.settings_dict
    assert db["NAME"].startswith("test_"), f"not a test database: {db['NAME']}"
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = quote(db["HOST"] or "", safe="")  # a socket directory is percent-encoded
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


def publisher_reset() -> None:
    """Make the test process's next publish use the broker_url configured now. Celery
    caches its connection and producer pools per app (and resets the same two attributes
    after a fork); kombu keeps one pool per broker URL, which is reused, not closed."""
    app._pool = None
    app.amqp._producer_pool = None


def routing_reset() -> None:
    """Make the next publish read task_routes and task_queues again: Celery caches its
    router, queues and default queue on first use."""
    for cached in ("router", "queues", "default_queue"):
        app.amqp.__dict__.pop(cached, None)
    app.amqp._rtable = None


class Broker:
    """The Redis broker as one test sees it: queues of its own (``queue`` is their common
    prefix), and the test process's publisher pointed at them (eager mode off)."""

    def __init__(self, url: str, queue: str):
        self.url = url
        self.queue = queue
        self.prefix = f"{queue}."
        self.redis = redis.Redis.from_url(url, socket_connect_timeout=3)

    def name(self, kind: str) -> str:
        """This test's queue for a kind of work (``queues.AWARDS``, ...)."""
        return self.prefix + kind

    @property
    def queues(self) -> list[str]:
        return queues.queue_names(self.prefix)

    def queue_length(self, kind: str | None = None) -> int:
        """Messages waiting in all the queues, or in the one of ``kind`` (kombu keeps one
        list per priority step)."""
        return sum(self.redis.llen(key) for key in self._queue_keys(kind))

    def _queue_keys(self, kind: str | None = None) -> list[bytes]:
        if kind is None:
            return list(self.redis.scan_iter(match=f"{self.prefix}*"))
        name = self.name(kind)
        return [key for key in self.redis.scan_iter(match=f"{name}*") if is_queue_key(key, name)]

    def purge(self) -> None:
        """Drop the messages waiting in the queue, as a lost broker would."""
        keys = self._queue_keys()
        if keys:
            self.redis.delete(*keys)

    def unacked(self) -> dict[bytes, list]:
        """Messages of this queue a worker took and has not acknowledged, by delivery tag.
        With acks_late a killed worker's tasks stay here until the visibility timeout."""
        found = {}
        for tag, raw in self.redis.hscan_iter("unacked"):
            message, exchange, routing_key = json.loads(raw)
            if exchange.startswith(self.prefix) or routing_key.startswith(self.prefix):
                found[tag] = message
        return found

    def redeliver_unacked(self) -> int:
        """What Redis does once the visibility timeout has passed: put the unacknowledged
        messages back on the queue (kombu's own restore, marked redelivered)."""
        tags = list(self.unacked())
        with app.connection_for_write() as conn:
            qos = conn.default_channel.qos
            for tag in tags:
                qos.restore_by_tag(tag.decode())
        return len(tags)

    @contextmanager
    def outage(self) -> Iterator[None]:
        """The broker is unreachable from the test process while inside the block: the
        publisher points at a closed port, with the deployed retry policy."""
        app.conf.broker_url = UNREACHABLE_BROKER
        publisher_reset()
        try:
            yield
        finally:
            app.conf.broker_url = self.url
            publisher_reset()

    def forget_worker(self, node: str) -> None:
        """Remove a stopped worker's remote-control binding: a killed worker cannot."""
        for member in self.redis.smembers(PIDBOX_BINDING):
            if f"{node}@".encode() in member:
                self.redis.srem(PIDBOX_BINDING, member)

    def cleanup(self) -> None:
        keys = [*self._queue_keys()]
        for name in self.queues:
            keys += [f"_kombu.binding.{name}", f"_kombu.binding_permanent.{name}"]
        self.redis.delete(*keys)
        for tag in self.unacked():
            self.redis.hdel("unacked", tag)
            self.redis.zrem("unacked_index", tag)
        self.redis.close()


@pytest.fixture
def broker(monkeypatch) -> Iterator[Broker]:
    """Publish for real to a queue of this test's own on REDIS_URL."""
    url = os.environ["REDIS_URL"]
    for name in BROKER_ENV:  # Celery lets these override broker_url
        monkeypatch.delenv(name, raising=False)
    the_broker = Broker(url, f"itest-{uuid.uuid4().hex[:12]}")
    # Celery's settings object is a view over Django's settings: it cannot delete a key
    # (what monkeypatch would do), so the old values are saved and written back.
    override = {
        "task_always_eager": False,
        "broker_url": url,
        "task_default_queue": the_broker.name(queues.DEFAULT),
        "task_queues": queues.task_queues(the_broker.prefix),
        "task_routes": queues.task_routes(the_broker.prefix),
    }
    saved = {key: getattr(app.conf, key) for key in override}
    app.conf.update(override)
    publisher_reset()
    routing_reset()
    try:
        yield the_broker
    finally:
        app.conf.update(saved)
        publisher_reset()
        routing_reset()
        the_broker.cleanup()


def is_queue_key(key: bytes, name: str) -> bool:
    """A Redis list of queue ``name``: the name itself or a priority step after it."""
    rest = key.decode()[len(name) :]
    return rest == "" or rest.startswith("\x06\x16")


class Worker:
    """One ``celery worker`` process (and its pool children) in a session of its own."""

    def __init__(self, broker: Broker, log_path: Path, kinds: tuple[str, ...] = queues.ALL_QUEUES):
        self.node = f"itest-{uuid.uuid4().hex[:8]}"
        self.name = f"{self.node}@%h"
        self.log_path = log_path
        env = {key: value for key, value in os.environ.items() if key not in BROKER_ENV}
        env.update(
            DJANGO_SETTINGS_MODULE="loyalty_site.settings",  # deployed settings: not eager
            DATABASE_URL=worker_database_url(),
            REDIS_URL=broker.url,
            CELERY_BROKER_URL=broker.url,
            EMAIL_URL="locmem://",
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        command = [
            sys.executable, "-m", "celery", "-A", "loyalty_site", "worker",
            "--concurrency", "2", "--pool", "prefork", "-l", "INFO",
            "-Q", ",".join(broker.name(kind) for kind in kinds),
            "--without-mingle", "--without-gossip", "-n", self.name,
        ]  # fmt: skip
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                command,
                cwd=settings.BASE_DIR,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one process group: the worker and its pool
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def count(self, text: str) -> int:
        return self.log().count(text)

    def is_ready(self) -> bool:
        return " ready." in self.log()

    def kill(self) -> None:
        """SIGKILL the whole process group: no warm shutdown, nothing acknowledged."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL if the worker does not exit in time."""
        if self.process.poll() is None:
            self.process.terminate()  # the worker stops its pool itself
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT)
        with suppress(ProcessLookupError):  # pool children outlive a killed parent
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)


class Workers:
    """Starts workers for one test and waits on the database, failing with their logs."""

    def __init__(self, broker: Broker, log_dir: Path):
        self.broker = broker
        self.log_dir = log_dir
        self.started: list[Worker] = []

    def start(self, kinds: tuple[str, ...] = queues.ALL_QUEUES) -> Worker:
        """A worker for this test's queues of these kinds (all unless told)."""
        log_path = self.log_dir / f"worker-{len(self.started) + 1}.log"
        worker = Worker(self.broker, log_path, kinds)
        self.started.append(worker)
        self.wait_until(worker.is_ready, "the worker to report ready", timeout=READY_TIMEOUT)
        return worker

    def wait_until(
        self, condition: Callable[[], object], what: str, timeout: float = OUTCOME_TIMEOUT
    ) -> float:
        """Poll ``condition`` until it holds; return the seconds it took. On timeout, or
        when a worker dies unexpectedly, fail with the tail of every worker's log."""
        started = time.monotonic()
        while True:
            if condition():
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                pytest.fail(f"timed out after {timeout}s waiting for {what}\n{self.logs()}")
            time.sleep(POLL_INTERVAL)

    def assert_clean(self) -> None:
        """No task failed, retried (a deadlock or a lock timeout) or was rejected."""
        for worker in self.started:
            for marker in (" ERROR ", " CRITICAL ", "raised unexpected", "Retry in", "Rejecting"):
                assert marker not in worker.log(), f"{marker.strip()!r} in\n{self.logs()}"

    def logs(self) -> str:
        return "\n".join(
            f"--- {w.log_path.name} (exit code {w.process.poll()}) ---\n{w.log_tail()}"
            for w in self.started
        )

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop()
            self.broker.forget_worker(worker.node)


@pytest.fixture
def workers(broker, transactional_db, tmp_path) -> Iterator[Workers]:
    """Start real workers with ``workers.start()``; all are stopped before the database is
    flushed and the queue purged."""
    started = Workers(broker, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture
def program(transactional_db):
    program = ProgramFactory()
    standard_tiers(program)
    return program


@pytest.fixture
def partner(program):
    return PartnerFactory(programs=[program])


@pytest.fixture
def enroll(program):
    """enroll(): a new customer's membership in the program."""

    def _enroll():
        membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
        return membership

    return _enroll


@pytest.fixture
def record(partner):
    """record(membership, "49.90"): a purchase recorded as the partner API does, its award
    enqueued after commit (award_now False)."""
    counter = {"n": 0}

    def _record(membership, amount="49.90", *, order_id=None):
        counter["n"] += 1
        purchase, created = purchase_record(
            partner=partner,
            membership=membership,
            order_id=order_id or f"itest-order-{counter['n']}",
            amount=Decimal(amount),
            currency="EUR",
            occurred_at=timezone.now() - timedelta(minutes=1),
            award_now=False,
        )
        assert created
        return purchase

    return _record
