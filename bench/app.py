"""Scenarios that drive the running application: HTTP load through a separate load process,
the award pipeline draining a backlog, the idle purchase-to-points latency."""

import json
import random
import subprocess
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path

import httpx

from bench.config import BASE_DIR, CONCURRENCY
from bench.load import purchase_body
from bench.processes import wait_idle
from bench.stats import summary


class LoadRunner:
    """Starts ``python -m bench.load`` processes with a spec and reads back the summary."""

    def __init__(self, web, base_url: str, api_key: str, work_dir: Path, duration: float):
        self.web = web
        self.base_url = base_url
        self.api_key = api_key
        self.work_dir = work_dir
        self.duration = duration
        self.count = 0

    def start(self, spec: dict) -> tuple[subprocess.Popen, Path]:
        self.count += 1
        out = self.work_dir / f"load-{self.count}.json"
        spec = {
            "base_url": self.base_url,
            "concurrency": CONCURRENCY,
            "duration": self.duration,
            "out": str(out),
            **spec,
        }
        spec_path = self.work_dir / f"load-{self.count}.spec.json"
        spec_path.write_text(json.dumps(spec))
        process = subprocess.Popen(  # noqa: S603 - our interpreter, our arguments
            [sys.executable, "-m", "bench.load", str(spec_path)], cwd=BASE_DIR
        )
        return process, out

    def finish(self, process: subprocess.Popen, out: Path) -> dict:
        process.wait(timeout=self.duration + 120)
        if process.returncode != 0:
            raise RuntimeError(f"load process failed with exit code {process.returncode}")
        return json.loads(out.read_text())

    def run(self, spec: dict) -> dict:
        result = self.finish(*self.start(spec))
        result["quiesce_s"] = wait_idle(self.web)
        return result

    def api_headers(self) -> dict:
        return {"Authorization": f"Bearer {self.api_key}"}


def find_page(predicate) -> str | None:
    """Path of the first URL pattern (no arguments) whose (namespace, name, view module)
    satisfies ``predicate``: how the bench finds pages other helpers are building."""
    from django.urls import get_resolver, reverse
    from django.urls.exceptions import NoReverseMatch
    from django.utils import translation

    def walk(patterns, namespace):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                inner = namespace
                if pattern.namespace:
                    inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
                yield from walk(pattern.url_patterns, inner)
            elif pattern.name:
                module = getattr(pattern.callback, "__module__", "") or ""
                view_class = getattr(pattern.callback, "view_class", None)
                if view_class is not None:
                    module = view_class.__module__
                yield namespace, pattern.name, module

    with translation.override("de"):
        for namespace, name, module in walk(get_resolver().url_patterns, ""):
            if predicate(namespace, name, module):
                try:
                    return reverse(f"{namespace}:{name}" if namespace else name)
                except NoReverseMatch:
                    continue
    return None


def portal_dashboard_path() -> str | None:
    return find_page(
        lambda ns, name, module: (
            "dashboard" in name and ("portal" in ns or module.startswith("loyalty_site.portal"))
        )
    )


def staff_dashboard_path() -> str | None:
    return find_page(lambda ns, name, module: "dashboard" in name and module.startswith("surveys"))


# --- award pipeline ---------------------------------------------------------------------


def queue_length() -> int:
    """Messages waiting in all the app's queues (awards, e-mails, webhooks, ... since tasks
    are routed by kind; a queue the broker has not seen yet counts 0)."""
    from amqp.exceptions import ChannelError

    from loyalty_site.celery import app

    waiting = 0
    with app.connection_for_write() as conn:
        for queue in dict.fromkeys([app.conf.task_default_queue or "celery", *app.amqp.queues]):
            with suppress(ChannelError):
                waiting += conn.default_channel.queue_declare(queue, passive=True).message_count
    return waiting


def purge_queue() -> int:
    from loyalty_site.celery import app

    return app.control.purge()


def scalar(sql: str, params=()):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def received_count() -> int:
    return scalar("SELECT count(*) FROM programs_purchase WHERE status = 'received'")


def entry_count() -> int:
    return scalar("SELECT count(*) FROM programs_ledgerentry")


PAUSE_LIMIT_S = 5.0  # issue 21: no pause longer than this while a backlog remains
PROGRESS_INTERVAL_S = 0.5


class ProgressSampler(threading.Thread):
    """Every ``interval`` seconds, on a connection of its own: the purchases still received
    (one count on the sweeper's partial index), with the time since ``started``. A thread,
    so that the sweeps the drain runs meanwhile never leave a gap in the samples."""

    def __init__(self, started: float, first: int, interval: float = PROGRESS_INTERVAL_S):
        super().__init__(daemon=True)
        self.started = started
        self.interval = interval
        self.samples: list[tuple[float, int]] = [(0.0, first)]
        self._halt = threading.Event()

    @property
    def left(self) -> int:
        return self.samples[-1][1]

    def run(self) -> None:
        from django.db import connection

        try:
            while not self._halt.wait(self.interval):
                left = received_count()
                self.samples.append((time.monotonic() - self.started, left))
                if left == 0:
                    break
        finally:
            connection.close()

    def stop(self) -> list[tuple[float, int]]:
        self._halt.set()
        self.join(10)
        return self.samples


def longest_pause(samples: list[tuple[float, int]]) -> dict:
    """The longest time the received count stood still while purchases remained: from a
    sample that saw it fall (or the start) to the next one that did (or the last sample,
    for a drain cut off with a backlog left), so within one sampling interval."""
    longest, at, over = 0.0, None, 0
    since, lowest = samples[0]

    def close(t):
        nonlocal longest, at, over
        gap = t - since
        over += gap > PAUSE_LIMIT_S
        if gap > longest:
            longest, at = gap, since

    for t, left in samples[1:]:
        if left < lowest:
            close(t)
            since, lowest = t, left
        if left == 0:
            break
    else:
        if lowest > 0 and len(samples) > 1:
            close(samples[-1][0])
    return {
        "longest_pause_s": round(longest, 2),
        "longest_pause_at_s": None if at is None else round(at, 1),
        "pauses_over_limit": over,
        "sample_interval_s": PROGRESS_INTERVAL_S,
    }


def drain(cap: float, log, follow_up: bool = True) -> dict:
    """Enqueue the backlog as production does (the sweeper), wait until no purchase is
    left received or the cap is reached. Entries per second over that time, and the
    longest pause in the progress (``longest_pause``). With ``follow_up``, then wait for
    the tasks the awards enqueued."""
    from django.db import connection

    from programs.tasks import SWEEP_AFTER_SECONDS, sweep_received_purchases_task

    # The whole backlog is due for the first sweep: the purchases the ingest phases posted
    # in the last seconds would otherwise wait for a second one, behind the e-mails and
    # checks of the first (bench data only).
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE programs_purchase SET received_at = now() - make_interval(secs => %s) "
            "WHERE status = 'received' AND received_at > now() - make_interval(secs => %s)",
            [2 * SWEEP_AFTER_SECONDS, 2 * SWEEP_AFTER_SECONDS],
        )
    backlog = received_count()
    entries_before = entry_count()
    started = time.monotonic()
    sampler = ProgressSampler(started, backlog)
    sampler.start()
    sweeps = 1
    # A sweep enqueues at most SWEEP_LIMIT purchases. The next one runs once those are
    # awarded, as beat's sweep every minute would pick up the rest, without waiting for
    # the e-mails and checks the awards enqueued behind them (or when the queue is empty,
    # should a purchase have been skipped).
    try:
        goal = backlog - sweep_received_purchases_task.run()
        while True:
            time.sleep(PROGRESS_INTERVAL_S)
            left = sampler.left
            elapsed = time.monotonic() - started
            if left == 0 or elapsed > cap or not sampler.is_alive():
                break
            if left <= goal or queue_length() == 0:
                sweeps += 1
                goal = left - sweep_received_purchases_task.run()
    finally:
        samples = sampler.stop()
    left = received_count()
    elapsed = samples[-1][0] if left == 0 and samples[-1][1] == 0 else time.monotonic() - started
    entries = entry_count() - entries_before
    awarded = backlog - left
    pause = longest_pause(samples)
    log(f"  drain: {awarded}/{backlog} purchases, {entries} entries in {elapsed:.1f} s, "
        f"longest pause {pause['longest_pause_s']} s")  # fmt: skip
    # What the awards enqueued after their commits (tier-progress checks, e-mails,
    # webhooks) is part of the pipeline's work too: how long until the queue is empty.
    follow_up_s = None
    if follow_up and left == 0:
        while queue_length() and time.monotonic() - started < 2 * cap:
            time.sleep(0.25)
        if not queue_length():
            follow_up_s = round(time.monotonic() - started - elapsed, 2)
            log(f"  follow-up tasks done {follow_up_s} s after the last purchase")
    progress = [(round(t, 1), n) for t, n in samples]
    return {
        "backlog": backlog,
        "awarded": awarded,
        "left": left,
        "entries": entries,
        "seconds": round(elapsed, 2),
        "per_second": round(entries / elapsed, 1) if elapsed else None,
        "purchases_per_second": round(awarded / elapsed, 1) if elapsed else None,
        "completed": left == 0,
        "follow_up_seconds": follow_up_s,
        "sweeps": sweeps,
        **pause,
        "progress": progress[:: max(1, len(progress) // 40)],
    }


def set_aside_backlog() -> int:
    """Purchases a cut-off drain left received are marked rejected (bench data only)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE programs_purchase SET status = 'rejected', "
            "status_reason = 'bench: left over when the drain was cut off' "
            "WHERE status = 'received'"
        )
        return cursor.rowcount


def idle_latency(base_url: str, api_key: str, members: list[str], samples: int) -> dict:
    """Purchases sent one at a time to an idle pipeline; purchase-to-points latency is the
    database's own clock: processed_at - received_at of each purchase."""
    from programs.models import Purchase, PurchaseStatus

    headers = {"Authorization": f"Bearer {api_key}", "X-Forwarded-Proto": "https"}
    ids = []
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for n in range(samples):
            body = purchase_body(members[n % len(members)], f"idle-{time.time_ns()}-{n}",
                                 random.Random(n))  # fmt: skip
            response = client.post("/api/v1/purchases", json=body)
            if response.status_code in (200, 202):
                ids.append(response.json()["id"])
            time.sleep(0.3)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not Purchase.objects.filter(pk__in=ids, status=PurchaseStatus.RECEIVED).exists():
            break
        time.sleep(0.2)
    latencies = sorted(
        (p.processed_at - p.received_at).total_seconds()
        for p in Purchase.objects.filter(pk__in=ids, processed_at__isnull=False)
    )
    result = summary(latencies, 1.0)
    result.pop("per_second")
    result["sent"] = samples
    result["awarded"] = len(latencies)
    return result
