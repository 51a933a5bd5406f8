"""Soak: `manage.py run_all` on the embedded PostgreSQL and the database broker, with nothing
configured, under several producers posting purchases through the partner API.

The stack runs in a subprocess with a var/ folder of its own and no DATABASE_URL, REDIS_URL
or CELERY_BROKER_URL, as `make run` on a fresh clone does. For SOAK_SECONDS (90 by default,
600 with `make soak`) three producers post purchases. Each purchase must be awarded within
25 s of the API's answer (sooner than the sweeper would re-enqueue a lost award task), each
member's balance must hold exactly the points of their purchases, no child may have exited
and no award task may have been delivered twice. Last, the worker is killed (SIGKILL):
run_all must start it again and the next purchase must be awarded.
"""

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import NoReturn

import httpx
import pytest
from django.conf import settings

from loyalty_site.local_postgres import local_server_stop
from programs.tasks import SWEEP_AFTER_SECONDS

pytestmark = pytest.mark.soak

SOAK_SECONDS = float(os.environ.get("SOAK_SECONDS", "90"))
PRODUCERS = 3
MEMBERS_PER_PRODUCER = 4
WINDOW = 3  # purchases a producer may have waiting for their award
AWARD_BOUND = SWEEP_AFTER_SECONDS - 5  # later, the sweeper would hide a lost award task
START_TIMEOUT = 180  # migrate on a new cluster, then web, worker and beat ready
RESTART_TIMEOUT = 30
STOP_TIMEOUT = 30
STACK_ENV_DROPPED = (
    "DATABASE_URL",
    "REDIS_URL",
    "CACHE_URL",
    "CELERY_BROKER_URL",
    "CELERY_BROKER_READ_URL",
    "CELERY_BROKER_WRITE_URL",
)
SETUP = """
from decimal import Decimal
from tests.factories import PartnerFactory, ProgramFactory, TierFactory
program = ProgramFactory(slug="soak", name="Soak", pending_days=0, points_per_unit=Decimal(1))
TierFactory(program=program, name="Basis", rank=0, threshold=0, earn_multiplier=Decimal(1))
PartnerFactory(slug="soak-shop", name="Soak shop", programs=[program])
"""
AWARD_RECEIVED = re.compile(r"award_purchases_task\[([0-9a-f-]+)\] received")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Stack:
    """`manage.py run_all` in a session of its own, its output in a log file."""

    def __init__(self, var_dir: Path, log_path: Path):
        self.var_dir = var_dir
        self.log_path = log_path
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if k not in STACK_ENV_DROPPED}
        self.env.update(
            DJANGO_SETTINGS_MODULE="loyalty_site.settings",
            LOYALTY_VAR_DIR=str(var_dir),
            DEBUG="1",
            PYTHONUNBUFFERED="1",
        )
        self.process: subprocess.Popen | None = None

    def manage(self, *args: str) -> str:
        result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, f"manage.py {args[0]} failed:\n{result.stderr[-3000:]}"
        return result.stdout.strip()

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [sys.executable, "manage.py", "run_all", "--addr", f"127.0.0.1:{self.port}"],
                cwd=settings.BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, condition, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                pytest.fail(f"run_all exited ({self.process.returncode}):\n{self.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{self.tail()}")
            time.sleep(0.2)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM run_all (it stops its children), then SIGKILL whatever is left of the
        session: run_all and the process groups of its children."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT)
        for pid in session_members(self.process.pid):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_TIMEOUT)


def session_members(sid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                if os.getsid(int(entry.name)) == sid:
                    found.append(int(entry.name))
    return found


class Producer(threading.Thread):
    """Posts purchases for its own members until the deadline, with at most WINDOW of them
    not yet awarded: the load follows what the worker manages, and each purchase's time from
    the API's answer to its award is measured. Keeps the points each member should have
    earned, and every failure."""

    def __init__(self, api: Callable[[], httpx.Client], number: int, deadline: float):
        super().__init__(name=f"producer-{number}", daemon=True)
        self.client = api()
        self.number = number
        self.deadline = deadline
        self.members = [f"soak-{number}-{k}" for k in range(MEMBERS_PER_PRODUCER)]
        self.expected = Counter(dict.fromkeys(self.members, 0))
        self.outstanding: deque[tuple[int, float]] = deque()  # (purchase id, answered at)
        self.latencies: list[float] = []
        self.failures: list[str] = []

    def run(self) -> None:
        with suppress(Failed):
            while time.monotonic() < self.deadline:
                self.post()
                while len(self.outstanding) >= WINDOW:
                    self.await_oldest()
            while self.outstanding:
                self.await_oldest()

    def post(self) -> None:
        n = len(self.latencies) + len(self.outstanding)
        member = self.members[n % len(self.members)]
        order = f"soak-{self.number}-{n}"
        response = self.request(
            "POST",
            "/purchases",
            headers={"Idempotency-Key": order},
            json={
                "member": member,
                "order_id": order,
                "amount": f"{10 + n % 90}.{n % 100:02d}",
                "currency": "EUR",
            },
        )
        if response.status_code != 202:
            self.fail(f"POST {order}: {response.status_code} {response.text[:300]}")
        body = response.json()
        self.expected[member] += body["points_expected"]
        self.outstanding.append((body["id"], time.monotonic()))

    def await_oldest(self) -> None:
        purchase, answered_at = self.outstanding[0]
        while True:
            status = self.request("GET", f"/purchases/{purchase}").json()["status"]
            waited = time.monotonic() - answered_at
            if status == "awarded":
                break
            if waited > AWARD_BOUND:
                self.fail(f"purchase {purchase} not awarded {waited:.0f} s after it was posted")
            time.sleep(0.05)
        self.outstanding.popleft()
        self.latencies.append(waited)

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            return self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.fail(f"{method} {path}: {exc!r}")

    def fail(self, message: str) -> NoReturn:
        self.failures.append(message)
        raise Failed(message)


class Failed(Exception):
    pass


def lifetime_earned(client: httpx.Client, member: str) -> int:
    response = client.get(f"/members/{member}/balance")
    assert response.status_code == 200, response.text
    (program,) = response.json()["programs"]
    return program["lifetime_earned"]


@pytest.fixture
def stack(tmp_path):
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    var_dir = tmp_path / "var"
    the_stack = Stack(var_dir, tmp_path / "run_all.log")
    try:
        yield the_stack
    finally:
        the_stack.stop()
        local_server_stop(var_dir)


def test_the_embedded_stack_loses_no_purchase_under_load(stack):
    stack.manage("migrate", "--noinput")
    stack.manage("shell", "-c", SETUP)
    key = stack.manage("create_api_key", "--partner", "soak-shop", "--name", "soak")
    stack.start()
    base = f"http://127.0.0.1:{stack.port}"

    def api() -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"}
        return httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=30)

    client = api()

    def healthy() -> bool:
        with suppress(httpx.HTTPError):
            return httpx.get(f"{base}/healthz", timeout=5).json()["status"] == "ok"
        return False

    stack.wait_for(healthy, "/healthz to answer ok", START_TIMEOUT)
    stack.wait_for(lambda: " ready." in stack.log(), "the worker to be ready", START_TIMEOUT)
    assert httpx.get(f"{base}/healthz").json()["checks"]["broker"]["transport"] == "sqlalchemy"

    deadline = time.monotonic() + SOAK_SECONDS
    producers = [Producer(api, n, deadline) for n in range(PRODUCERS)]
    for producer in producers:
        for member in producer.members:
            response = client.put(
                f"/members/{member}",
                json={"email": f"{member}@example.com", "language": "en", "programs": ["soak"]},
            )
            assert response.status_code == 201, response.text
    for producer in producers:
        producer.start()
    for producer in producers:
        producer.join(SOAK_SECONDS + 60)
        assert not producer.is_alive(), f"{producer.name} did not finish\n{stack.tail()}"

    failures = [failure for producer in producers for failure in producer.failures]
    assert failures == [], f"{failures}\n{stack.tail()}"
    latencies = sorted(latency for producer in producers for latency in producer.latencies)
    posted = len(latencies)
    assert posted >= SOAK_SECONDS, f"only {posted} purchases posted\n{stack.tail()}"
    expected = sum((producer.expected for producer in producers), Counter())
    earned = {member: lifetime_earned(client, member) for member in expected}
    assert earned == dict(expected), "a member's points differ from their purchases'"
    log = stack.log()
    assert "run_all:" not in log, f"a child crashed:\n{stack.tail()}"
    assert "sweeper re-enqueued" not in log, "an award waited for the sweeper (lost or late)"
    assert "Traceback" not in log, stack.tail()
    received = Counter(AWARD_RECEIVED.findall(log))
    assert len(received) >= posted
    assert [task for task, n in received.items() if n > 1] == [], "a task was delivered twice"
    print(  # noqa: T201 - shown with -s (make soak)
        f"soak: {posted} purchases in {SOAK_SECONDS:.0f} s, awarded after median "
        f"{latencies[posted // 2]:.2f} s, p99 {latencies[posted * 99 // 100]:.2f} s, "
        f"max {latencies[-1]:.2f} s"
    )

    # A crashed worker is started again, and work posted afterwards is done.
    os.killpg(worker_pid(stack.process.pid), signal.SIGKILL)
    stack.wait_for(
        lambda: "run_all: worker restarted" in stack.log(), "run_all to restart", RESTART_TIMEOUT
    )
    assert f"run_all: worker exited with code -{signal.SIGKILL}" in stack.log()
    response = client.post(
        "/purchases",
        headers={"Idempotency-Key": "after-restart"},
        json={"member": "soak-0-0", "order_id": "after-restart", "amount": "50", "currency": "EUR"},
    )
    assert response.status_code == 202, response.text
    points = expected["soak-0-0"] + response.json()["points_expected"]
    stack.wait_for(
        lambda: lifetime_earned(client, "soak-0-0") == points,
        "the purchase posted after the restart to be awarded",
        RESTART_TIMEOUT,
    )
    assert stack.process.poll() is None


def worker_pid(run_all_pid: int) -> int:
    """The pid of run_all's `celery worker` child (the leader of its process group)."""
    for pid in session_members(run_all_pid):
        with suppress(OSError):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"worker" in cmdline and os.getpgid(pid) == pid:
                return pid
    pytest.fail("no celery worker found among run_all's children")
