"""Every task of ours has an explicit queue, every worker start consumes every queue unless
told otherwise, and the database broker carries several queues."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from kombu import Connection, Queue

from loyalty_site import queues
from loyalty_site.broker import DATABASE_BROKER_TRANSPORT, broker_prepare, database_broker_url
from loyalty_site.celery import app

OUR_PREFIXES = ("programs.", "surveys.", "customers.", "loyalty_site.")


@pytest.fixture(scope="module")
def our_tasks() -> set[str]:
    app.loader.import_default_modules()  # what a worker imports at start-up
    return {name for name in app.tasks if name.startswith(OUR_PREFIXES)}


def routed_queue(name: str) -> str:
    return app.amqp.router.route({}, name)["queue"].name


def test_every_task_of_ours_has_an_explicit_route(our_tasks):
    unrouted = our_tasks - set(queues.ROUTES)
    assert not unrouted, f"add these tasks to loyalty_site.queues.ROUTES: {sorted(unrouted)}"
    stale = set(queues.ROUTES) - our_tasks
    assert not stale, f"routes for tasks that do not exist: {sorted(stale)}"


def test_routes_lead_to_the_queues_of_their_kind(our_tasks):
    for name in our_tasks:
        assert routed_queue(name) == queues.ROUTES[name], name
    assert routed_queue("programs.tasks.award_purchases_task") == "awards"
    assert routed_queue("programs.tasks.sweep_received_purchases_task") == "awards"
    assert routed_queue("programs.notifications.tasks.send_notification_emails_task") == "messages"
    assert routed_queue("surveys.tasks.send_invitation_task") == "messages"
    assert routed_queue("programs.api.tasks.deliver_webhooks_task") == "webhooks"
    assert routed_queue("programs.tasks.import_commit_task") == "imports"
    assert routed_queue("programs.tasks.expire_points_task") == "nightly"
    assert routed_queue("surveys.engagement.tasks.recompute_engagement_task") == "nightly"
    assert routed_queue("someone.elses.task") == "celery"


def test_every_beat_entry_is_routed():
    for key, entry in app.conf.beat_schedule.items():
        assert entry["task"] in queues.ROUTES, key


def test_a_worker_without_queues_consumes_all_of_them():
    assert settings.CELERY_ALL_QUEUES == "awards,messages,webhooks,imports,nightly,celery"
    assert list(app.amqp.queues) == settings.CELERY_ALL_QUEUES.split(",")
    assert app.conf.task_default_queue in app.amqp.queues


def deploy_start_worker(**env) -> list[str]:
    """The command deploy/start runs for a worker, printed instead of run."""
    result = subprocess.run(  # noqa: S603 - our own script
        ["/bin/sh", str(settings.BASE_DIR / "deploy" / "start"), "worker"],
        env={"PATH": os.environ["PATH"], "LOYALTY_PYTHON": "echo", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def test_deploy_start_consumes_every_queue_unless_worker_queues_names_some():
    assert "--queues" not in deploy_start_worker()  # all of CELERY_TASK_QUEUES
    command = deploy_start_worker(WORKER_QUEUES="messages,webhooks")
    assert command[command.index("--queues") + 1] == "messages,webhooks"


def test_worker_nice_out_of_range_is_refused():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "loyalty_site.settings", "WORKER_NICE": "25"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "WORKER_NICE=25 is above 19" in result.stderr


AUTOGROUP_PROBE = """
import sys, time
from loyalty_site.queues import worker_autogroup_nice_apply
print(worker_autogroup_nice_apply(int(sys.argv[1])), flush=True)
time.sleep(30)
"""


def autogroup_nice(pid: int | str) -> str:
    """The nice value of a process's autogroup as the kernel shows it ("/autogroup-42 nice 0"),
    or "" for the root autogroup (processes that never started a session of their own, such
    as a CI runner under a container's init), which the kernel shows as an empty file."""
    shown = Path(f"/proc/{pid}/autogroup").read_text().split()
    return shown[-1] if shown else ""


def _probe(nice: int, *, own_session: bool) -> tuple[str, str]:
    """A process that applies ``nice`` to its autogroup, in a session of its own or in
    this one: what it returned, and its autogroup's nice value as the kernel shows it."""
    probe = subprocess.Popen(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", AUTOGROUP_PROBE, str(nice)],
        cwd=settings.BASE_DIR,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=own_session,
    )
    try:
        returned = probe.stdout.readline().strip()
        return returned, autogroup_nice(probe.pid)
    finally:
        probe.kill()
        probe.wait()


@pytest.mark.skipif(
    not Path("/proc/self/autogroup").exists(), reason="kernel without autogroup scheduling"
)
def test_a_worker_leading_its_session_lowers_the_session_not_just_itself():
    """With autogroup scheduling the kernel shares the CPU between sessions first: a worker
    in a session of its own lowers the whole session's weight."""
    assert _probe(10, own_session=True) == ("10", "10")
    # Sharing the session (make run, this test runner): the session is left alone, since
    # lowering it would lower the web server and everything else in it.
    assert _probe(10, own_session=False) == ("None", autogroup_nice("self"))
    assert _probe(0, own_session=True) == ("None", "0")


@pytest.fixture
def database_broker(db, monkeypatch):
    """The app's broker pointed at the test database, with queues of this test's own."""
    prefix = f"test-{uuid.uuid4().hex[:8]}."
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.setattr(app.conf, "broker_url", database_broker_url(connection.settings_dict))
    monkeypatch.setitem(app.conf, "broker_transport", DATABASE_BROKER_TRANSPORT)
    monkeypatch.setitem(app.conf, "broker_transport_options", {})
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    monkeypatch.setitem(app.conf, "task_default_queue", prefix + queues.DEFAULT)
    monkeypatch.setitem(app.conf, "task_queues", queues.task_queues(prefix))
    monkeypatch.setitem(app.conf, "task_routes", queues.task_routes(prefix))
    routing_reset()
    app._pool = None
    app.amqp._producer_pool = None
    yield prefix
    routing_reset()
    app._pool = None
    app.amqp._producer_pool = None


def routing_reset() -> None:
    for cached in ("router", "queues", "default_queue"):
        app.amqp.__dict__.pop(cached, None)
    app.amqp._rtable = None


def test_database_broker_carries_each_kind_on_its_queue(database_broker):
    prefix = database_broker
    broker_prepare(app)  # declares every queue
    app.send_task("programs.tasks.award_purchases_task", args=[[1]])
    app.send_task("programs.tasks.expire_points_task")
    app.send_task("programs.tasks.expire_points_task")

    with Connection(app.conf.broker_url, transport=DATABASE_BROKER_TRANSPORT) as conn:
        channel = conn.default_channel
        waiting = {
            kind: channel.queue_declare(queue=prefix + kind, passive=True).message_count
            for kind in queues.ALL_QUEUES
        }
        assert waiting == {"awards": 1, "messages": 0, "webhooks": 0, "imports": 0,
                           "nightly": 2, "celery": 0}  # fmt: skip
        # One consumer of several queues (what `worker -Q awards,nightly` does) gets all.
        received = []
        consumer = conn.Consumer(
            [Queue(prefix + queues.AWARDS), Queue(prefix + queues.NIGHTLY)],
            callbacks=[lambda body, message: (received.append(message), message.ack())],
            accept=["json"],
        )
        with consumer:
            for _ in range(30):
                if len(received) == 3:
                    break
                conn.drain_events(timeout=1)
        names = sorted(message.headers["task"] for message in received)
        assert names == [
            "programs.tasks.award_purchases_task",
            "programs.tasks.expire_points_task",
            "programs.tasks.expire_points_task",
        ]
