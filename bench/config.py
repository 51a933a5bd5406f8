"""What a bench run is: its scale, its database and broker, and the production-like
environment every process of the run (web, worker, jobs, seeding) starts with."""

import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = BASE_DIR / "bench" / "results"
VAR_DIR = BASE_DIR / "var" / "bench"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/loyalty_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
CONCURRENCY = 32


@dataclass(frozen=True)
class Scale:
    name: str
    customers: int
    purchases: int  # awarded history, with ledger entries and lots
    backlog: int  # received purchases the award pipeline drains
    long_history: int  # customers with a long history (portal dashboard)
    long_history_purchases: int  # purchases of each of them
    duration: float  # seconds of each load phase
    raw_duration: float  # seconds of each raw-limit phase
    drain_cap: float  # seconds the drain may take before it is cut off
    job_cap: float  # seconds a nightly job may take before it is cut off
    idle_samples: int  # purchases sent one by one for the idle latency
    batch_size: int  # purchases per batch request (the 1,000; fewer in smoke)


SCALES = {
    "smoke": Scale("smoke", 300, 3_000, 200, 5, 60, 1.5, 1.0, 20, 30, 3, 10),
    "default": Scale("default", 100_000, 1_000_000, 100_000, 200, 300, 10, 5, 150, 240, 20, 1000),
    "large": Scale(
        "large", 1_000_000, 10_000_000, 1_000_000, 1_000, 500, 20, 10, 1_200, 1_200, 20, 1000
    ),
}


def scale_from_env() -> Scale:
    name = os.environ.get("BENCH_SCALE", "default").strip() or "default"
    if name not in SCALES:
        raise SystemExit(f"BENCH_SCALE={name!r}: choose one of {', '.join(SCALES)}.")
    scale = SCALES[name]
    backlog = os.environ.get("BENCH_BACKLOG", "").strip()
    if backlog:
        # Another backlog for the drain (the 1,000,000-purchase memory check on the default
        # data set): the cap grows with it, at 500 purchases/s at the least.
        if not backlog.isdigit() or int(backlog) < 1:
            raise SystemExit(f"BENCH_BACKLOG={backlog!r}: a number of purchases, e.g. 1000000.")
        size = int(backlog)
        scale = replace(
            scale,
            name=f"{name}-backlog{size}",
            backlog=size,
            drain_cap=max(scale.drain_cap, size / 500),
        )
    return scale


def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "").strip() or DEFAULT_DATABASE_URL
    name = urlparse(url).path.lstrip("/")
    if urlparse(url).scheme not in {"postgres", "postgresql"}:
        raise SystemExit("The bench needs PostgreSQL: DATABASE_URL must be postgres://...")
    if "bench" not in name:
        # The bench drops and re-creates its database: never point it at real data.
        raise SystemExit(
            f"Refusing to use database {name!r}: the bench re-creates its database, so its "
            "name must contain 'bench' (e.g. .../loyalty_bench)."
        )
    return url


def redis_url() -> str:
    return os.environ.get("REDIS_URL", "").strip() or DEFAULT_REDIS_URL


def web_workers() -> int:
    return int(os.environ.get("BENCH_WEB_WORKERS") or 2 * (os.cpu_count() or 1) + 1)


def celery_concurrency() -> int:
    return int(os.environ.get("BENCH_WORKER_CONCURRENCY") or (os.cpu_count() or 1))


def other_worker_concurrency() -> int:
    """Processes of the worker for every queue but ``awards`` during the drains."""
    return int(os.environ.get("BENCH_OTHER_WORKER_CONCURRENCY") or 1)


WORKER_LAYOUTS = {
    "queues": "awards / the others, a worker each",
    "shared": "one worker for every queue",
}


def replica_enabled() -> bool:
    """``BENCH_REPLICA=0`` skips the read-replica phase (a base backup of the whole server)."""
    return os.environ.get("BENCH_REPLICA", "1") != "0"


def worker_layout() -> str:
    """How the drain's workers take the queues: ``queues`` as docs/deploy.md runs them (a
    worker for awards, one for the rest), or ``shared``: one worker with
    celery_concurrency() processes for every queue, as the bench ran before issue #21, to
    compare a drain with older runs on the same harness."""
    layout = os.environ.get("BENCH_WORKER_LAYOUT", "").strip() or "queues"
    if layout not in WORKER_LAYOUTS:
        raise SystemExit(
            f"BENCH_WORKER_LAYOUT={layout!r}: choose one of {', '.join(WORKER_LAYOUTS)}."
        )
    return layout


def scaling_backlog(scale: Scale) -> int:
    """Purchases each of the 1- and 2-process drains starts with: half the scale's backlog,
    at most 100,000 (with BENCH_BACKLOG=1000000 the two would otherwise take 20 minutes)."""
    return max(1, min(scale.backlog // 2, 100_000))


def production_environ(db_url: str, broker_url: str) -> dict[str, str]:
    """loyalty_site.settings.production with what a deployment must set. Only two things
    differ from a real deployment: there is no TLS proxy in front (SECURE_SSL_REDIRECT=0,
    clients send X-Forwarded-Proto: https instead) and the per-key API rate limit is
    lifted, since the load generator is one partner sending far more than 6,000/min."""
    env = {
        "DJANGO_SETTINGS_MODULE": "loyalty_site.settings.production",
        "DATABASE_URL": db_url,
        "REDIS_URL": broker_url,
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": "https://bench.invalid",
        # Files, as a real mail server would take them: the locmem backend keeps every
        # e-mail in the worker's memory (63,099 at the large scale: its whole RSS growth).
        "EMAIL_URL": f"file://{VAR_DIR / 'mail'}",
        "SECURE_SSL_REDIRECT": "0",
        "API_RATE_LIMIT": "100000000/min",
        "LOYALTY_VAR_DIR": str(VAR_DIR),
        "LOG_LEVEL": "WARNING",
        "DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("CELERY_BROKER_URL", "CACHE_URL"):
        os.environ.pop(name, None)
    return env


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S', time.gmtime())}] {message}", flush=True)


def recreate_database(db_url: str) -> None:
    """The run's database, dropped and created empty."""
    parsed = urlparse(db_url)
    name = parsed.path.lstrip("/")
    admin_url = urlunparse(parsed._replace(path="/postgres", scheme="postgresql"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
