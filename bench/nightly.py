"""Nightly jobs, each timed against the bare SQL aggregate it needs.

A job is found by import: the beat schedule (loyalty_site/celery.py) is searched for a
task whose name has the job's words, then the apps' task modules. A job whose code does not
exist yet is reported as not available. Each job runs in a process of its own with the
production settings, as a worker would run it, and is cut off after the scale's cap.

Run as ``python -m bench.nightly <dotted.task.name>``: runs the task in-process and prints
its elapsed seconds and return value as JSON. A job with ``same_rows`` (expiry) also reports
its write rate (the rows it wrote per second) next to a raw ``COPY`` of the same rows into a
scratch table shaped like the ledger, in the same process, right after it (issue #21).
"""

import importlib
import json
import subprocess
import sys
import time

from bench.config import BASE_DIR
from bench.profile import py_spy

# Each aggregate's outer query reads what the inner one computes: with a bare count(*)
# outside, PostgreSQL drops the unused sums and times only the grouping.
JOBS = {
    "nightly.engagement": {
        "words": ("engagement",),
        "modules": ("surveys.engagement",),
        "aggregate": [
            # Recency, frequency, monetary per membership: the heart of any engagement score.
            """SELECT count(*), sum(n), sum(spent), max(last) FROM (
                 SELECT membership_id, count(*) n, sum(amount) spent, max(occurred_at) last
                 FROM programs_purchase WHERE status = 'awarded' GROUP BY membership_id) s""",
            """SELECT count(*), sum(n), max(last) FROM (
                 SELECT membership_id, count(*) FILTER (WHERE kind = 'redeem') n,
                        max(created_at) last
                 FROM programs_ledgerentry GROUP BY membership_id) s""",
        ],
    },
    "nightly.metric_snapshots": {
        "words": ("snapshot",),
        "modules": ("surveys.tasks",),
        "aggregate": [
            """SELECT count(*), sum(n), sum(spent), sum(members) FROM (
                 SELECT program_id, date_trunc('month', occurred_at), count(*) n,
                        sum(amount) spent, count(DISTINCT membership_id) members
                 FROM programs_purchase GROUP BY 1, 2) s""",
            """SELECT count(*), sum(p), sum(pp) FROM (
                 SELECT kind, date_trunc('day', created_at), sum(points) p,
                        sum(pending_points) pp
                 FROM programs_ledgerentry GROUP BY 1, 2) s""",
        ],
    },
    "nightly.expiry": {
        # the whole task name: "expire" alone also matched expire_points_holds_task, which
        # is earlier in the beat schedule and had nothing to do (0.06 s since 2026-12-03)
        "words": ("expire_points_task",),
        "modules": ("programs.tasks",),
        "aggregate": [
            """SELECT count(*), sum(due) FROM (
                 SELECT membership_id, sum(remaining) due FROM programs_pointlot
                 WHERE expired_at IS NULL AND released_at IS NOT NULL AND remaining > 0
                   AND expires_at <= now()
                 GROUP BY membership_id) s""",
        ],
        # the rows the job wrote: its expire entries (newer than the newest before it ran)
        "same_rows": "kind = 'expire'",
    },
}

SCRATCH = "bench_same_rows"
SCRATCH_SCHEMA = f"""
DROP TABLE IF EXISTS {SCRATCH};
CREATE TABLE {SCRATCH} (LIKE programs_ledgerentry INCLUDING DEFAULTS);
ALTER TABLE {SCRATCH} ADD PRIMARY KEY (id), ADD UNIQUE (idempotency_key);
CREATE INDEX {SCRATCH}_member ON {SCRATCH} (membership_id, effective_at DESC, id DESC)
"""


def find_task(words: tuple[str, ...], modules: tuple[str, ...]) -> str | None:
    """Dotted name of the task doing this job, or None if its code does not exist yet."""
    from loyalty_site.celery import app

    for entry in app.conf.beat_schedule.values():
        name = entry["task"]
        if all(w in name for w in words) and _importable(name):
            return name
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for attr in dir(module):
            value = getattr(module, attr)
            if all(w in attr for w in words) and attr.endswith("_task") and hasattr(value, "run"):
                return f"{value.__module__}.{attr}"
    return None


def _importable(dotted: str) -> bool:
    module_name, _, attr = dotted.rpartition(".")
    try:
        return hasattr(importlib.import_module(module_name), attr)
    except ImportError:
        return False


def aggregate_seconds(statements: list[str]) -> float:
    """The bare aggregate, warm (second of two runs): what the job cannot do without."""
    from django.db import connection

    best = None
    for _ in range(2):
        started = time.monotonic()
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)
                cursor.fetchall()
        best = time.monotonic() - started
    return best


def run_job(task_name: str, env: dict, cap: float, profile_to=None) -> dict:
    """Run the task in a process of its own; its time, its answer, or that it was cut off.
    With ``profile_to`` (a path), py-spy samples the job into it."""
    command = [sys.executable, "-m", "bench.nightly", task_name]
    spy = py_spy() if profile_to else None
    if spy:
        command = [spy, "record", "--rate", "100", "--format", "raw", "--nonblocking",
                   "--output", str(profile_to), "--", *command]  # fmt: skip
    started = time.monotonic()
    try:
        done = subprocess.run(  # noqa: S603 - our interpreter, our arguments
            command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=cap
        )
    except subprocess.TimeoutExpired:
        return {"task": task_name, "cut_off_after_s": cap, "seconds": None}
    wall = time.monotonic() - started
    if done.returncode != 0:
        return {"task": task_name, "error": done.stderr[-2000:], "seconds": None}
    answer = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not answer:
        return {"task": task_name, "error": done.stdout[-2000:], "seconds": None}
    result = json.loads(answer[-1])  # py-spy, when profiling, prints after the job
    result["process_wall_s"] = round(wall, 2)
    return result


def _same_rows_filter(task_name: str) -> str | None:
    for job in JOBS.values():
        if "same_rows" in job and all(w in task_name for w in job["words"]):
            return job["same_rows"]
    return None


def _newest_entry_id() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM programs_ledgerentry")
        return cursor.fetchone()[0]


def same_rows_copy(where: str, after_id: int, seconds: float) -> dict:
    """The ledger entries the job wrote (``where``, ids above ``after_id``) per second of
    the job, and a raw COPY of the very same rows into a scratch table shaped like the
    ledger (primary key, unique idempotency key, the per-member index; no foreign keys):
    the better of two, warm, as the aggregate."""
    from django.db import connection

    from programs.services.postings import ENTRY_COLUMNS

    columns = ", ".join(ENTRY_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM programs_ledgerentry WHERE id > %s AND {where} ORDER BY id",
            [after_id],
        )
        rows = cursor.fetchall()
        for statement in SCRATCH_SCHEMA.split(";"):
            if statement.strip():
                cursor.execute(statement)
    if not rows or not seconds:
        return {"rows": len(rows)}
    best = None
    for _ in range(2):
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {SCRATCH}")
            started = time.monotonic()
            with cursor.cursor.copy(f"COPY {SCRATCH} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            took = time.monotonic() - started
        best = took if best is None else min(best, took)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {SCRATCH}")
    per_second = len(rows) / seconds
    copy_per_second = len(rows) / best
    return {
        "rows": len(rows),
        "per_second": round(per_second, 1),
        "copy_s": round(best, 4),
        "copy_per_second": round(copy_per_second, 1),
        "copy_ratio": round(per_second / copy_per_second, 4),
    }


def main() -> int:
    import django

    django.setup()
    task_name = sys.argv[1]
    module_name, _, attr = task_name.rpartition(".")
    task = getattr(importlib.import_module(module_name), attr)
    same_rows = _same_rows_filter(task_name)
    after_id = _newest_entry_id() if same_rows else 0
    started = time.monotonic()
    value = task.run() if hasattr(task, "run") else task()
    elapsed = time.monotonic() - started
    if not isinstance(value, int | float | str | None):
        value = repr(value)[:200]
    result = {"task": task_name, "seconds": round(elapsed, 3), "returned": value}
    if same_rows:
        result["same_rows"] = same_rows_copy(same_rows, after_id, elapsed)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
