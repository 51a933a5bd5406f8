"""Start the web server, a Celery worker and Celery beat together; Ctrl-C stops all three.

A child that exits on its own (a crash, an out-of-memory kill) is started again after a
delay that doubles from 1 s up to 30 s and falls back to 1 s once it has stayed up a minute,
so one failing process does not take the others down. Ctrl-C or SIGTERM stops all three.

Without SITE_URL, the children get SITE_URL from --addr, so links in e-mails the worker sends
point at the port the web server listens on. With --quiet (what `make run` passes) the
children print warnings and errors only: no start-up banners, no log line per request or task.
The one worker consumes every queue (CELERY_ALL_QUEUES); production may split them.
"""

import os
import signal
import subprocess
import sys
import time
from contextlib import suppress

from django.conf import settings
from django.core.management.base import BaseCommand

from loyalty_site.broker import broker_prepare
from loyalty_site.celery import app

DEMO_LOGINS = [
    ("Staff (admin)", "staff", "loyalty-demo"),
    ("Customer (portal)", "anna.schmidt@example.com", "loyalty-demo"),
]
FIRST_DELAY = 1.0  # seconds before the first restart of a child
MAX_DELAY = 30.0
STABLE_AFTER = 60.0  # seconds up after which a child's next restart waits FIRST_DELAY again
POLL_INTERVAL = 0.2
STOP_TIMEOUT = 15


class Stop(Exception):
    """Ctrl-C (SIGINT) or SIGTERM: stop the children."""


class Child:
    """One supervised process, in a process group of its own: after it exits, what it
    left behind (a worker's pool processes) is killed with the group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], *, stdout=None):
        self.name = name
        self.argv = argv
        self.env = env
        self.stdout = stdout
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.delay = FIRST_DELAY
        self.restart_at: float | None = None
        self.restarts = 0

    def start(self) -> None:
        # our own argv; process_group=0 puts the child in a group of its own
        self.process = subprocess.Popen(  # noqa: S603
            self.argv, env=self.env, stdout=self.stdout, process_group=0
        )
        self.started_at = time.monotonic()
        self.restart_at = None

    def exited(self) -> int | None:
        """The exit code if the child has exited since it was last started, else None."""
        if self.process is None or self.process.poll() is None:
            return None
        code = self.process.returncode
        self.kill_group()
        self.process = None
        return code

    def schedule_restart(self, now: float) -> float:
        """Plan the next start and return its delay in seconds."""
        if now - self.started_at >= STABLE_AFTER:
            self.delay = FIRST_DELAY
        delay = self.delay
        self.restart_at = now + delay
        self.delay = min(self.delay * 2, MAX_DELAY)
        self.restarts += 1
        return delay

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        if self.process is not None:
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        self.kill_group()

    def kill_group(self) -> None:
        if self.process is not None:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)


class Command(BaseCommand):
    help = "Run web, worker and beat in the foreground for development."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--concurrency", type=int, default=2)
        parser.add_argument(
            "--quiet",
            action="store_true",
            help="Children print warnings and errors only (LOG_LEVEL defaults to WARNING).",
        )

    def handle(self, *args, addr, concurrency, quiet, **options):
        broker_prepare(app)
        python = sys.executable
        env = children_environment(addr, quiet=quiet)
        level = env.get("LOG_LEVEL", "INFO")
        celery = [python, "-m", "celery", *(["--quiet"] if quiet else []), "-A", "loyalty_site"]
        web_stdout = subprocess.DEVNULL if quiet else None  # runserver's start-up chatter
        children = [
            Child("web", [python, "manage.py", "runserver", addr, "--noreload"], env,
                  stdout=web_stdout),
            Child("worker", [
                *celery, "worker", "--loglevel", level, "--concurrency", str(concurrency),
                "--queues", settings.CELERY_ALL_QUEUES,
            ], env),
            Child("beat", [
                *celery, "beat", "--loglevel", level,
                "--schedule", str(settings.VAR_DIR / "celerybeat-schedule"),
            ], env),
        ]  # fmt: skip
        # Set explicitly: a shell starts a background job with SIGINT ignored.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _raise_stop)
        for child in children:
            child.start()
        self._print_banner(addr)
        try:
            self._supervise(children)
        except Stop:
            self.stdout.write("\nStopping web, worker and beat ...")
        finally:
            for child in children:
                child.terminate()
            deadline = time.monotonic() + STOP_TIMEOUT
            for child in children:
                child.wait(deadline)

    def _supervise(self, children: list[Child]) -> None:
        while True:
            now = time.monotonic()
            for child in children:
                code = child.exited()
                if code is not None:
                    delay = child.schedule_restart(now)
                    self.stderr.write(
                        f"run_all: {child.name} exited with code {code} after "
                        f"{now - child.started_at:.0f} s; restarting it in {delay:.0f} s "
                        f"(restart {child.restarts})"
                    )
                elif child.restart_at is not None and now >= child.restart_at:
                    child.start()
                    self.stderr.write(f"run_all: {child.name} restarted (pid {child.process.pid})")
            time.sleep(POLL_INTERVAL)

    def _print_banner(self, addr: str) -> None:
        base = f"http://{addr}"
        lines = [
            "",
            "Loyalty platform is starting (web, worker, beat).",
            f"  Customer portal : {base}/",
            f"  Staff admin     : {base}/admin/",
            f"  API docs        : {base}/api/docs/",
            f"  Health          : {base}/healthz",
            f"  E-mails         : {settings.VAR_DIR / 'mail'}",
            "Demo logins:",
            *[f"  {role:<18}: {user} / {pw}" for role, user, pw in DEMO_LOGINS],
            "A child that crashes is restarted. Press Ctrl-C to stop all three.",
            "",
        ]
        self.stdout.write("\n".join(lines))


def children_environment(addr: str, *, quiet: bool) -> dict[str, str]:
    """The environment of web, worker and beat: SITE_URL follows --addr unless it is set."""
    env = os.environ.copy()
    if not settings.SITE_URL_FROM_ENV:
        host, _, port = addr.rpartition(":")
        if host in ("", "0.0.0.0", "[::]"):  # noqa: S104 - listening everywhere, linking locally
            host = "127.0.0.1"
        env["SITE_URL"] = f"http://{host}:{port}"
    if quiet:
        env.setdefault("LOG_LEVEL", "WARNING")
    return env


def _raise_stop(signum, frame):
    raise Stop
