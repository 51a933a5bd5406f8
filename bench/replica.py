"""The read load on a streaming replica (issue 21), a phase of ``bench/run.py``."""

import os
import time
from urllib.parse import urlparse

from bench import config
from bench.config import log
from bench.report_common import ratio


def reads(run, load, members, seeded) -> dict:
    """The read load on a streaming replica (issue 21): balance reads and portal pages,
    32 clients each, first against the web processes reading the primary, then against
    web processes started with ``DATABASE_REPLICA_URL`` pointing at a hot standby of
    the bench server (``loyalty_site/streaming_replica.py``), on the same machine and
    its two cores. The transactions each server ran during a phase show which one
    carried the reads."""
    from bench import app, processes
    from loyalty_site.streaming_replica import StreamingReplica

    parsed = urlparse(run.db_url)
    dbname = parsed.path.lstrip("/")
    count_sql = (
        f"SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '{dbname}'"
    )
    path = app.portal_dashboard_path()
    cookies = [run._session_cookie(k) for k in seeded["sessions"]["customers"]]
    specs = {"balance": {"kind": "balance", "members": members,
                         "headers": load.api_headers()}}  # fmt: skip
    if path is not None:
        specs["portal"] = {"kind": "pages", "paths": [path], "cookies": cookies}
    replica = StreamingReplica(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        dbname=dbname,
    )

    def measure(runner, where: str, out: dict) -> None:
        for name, spec in specs.items():
            before = (replica.primary_sql(count_sql),
                      replica.sql(count_sql) if replica.running else 0)  # fmt: skip
            result = runner.run(spec)
            time.sleep(1)  # PostgreSQL publishes its counters within a second
            after = (replica.primary_sql(count_sql),
                     replica.sql(count_sql) if replica.running else 0)  # fmt: skip
            requests = sum(result.get("statuses", {}).values()) or None
            result["primary_tx_per_request"] = ratio(after[0] - before[0], requests, 2)
            result["replica_tx_per_request"] = ratio(after[1] - before[1], requests, 2)
            out[f"{where}.{name}"] = result
            log(f"  {where}.{name}: {result.get('per_second')}/s p99 "
                f"{result.get('p99_ms')} ms; transactions per request: primary "
                f"{result['primary_tx_per_request']}, replica "
                f"{result['replica_tx_per_request']}")  # fmt: skip

    out: dict = {"cores": os.cpu_count()}
    measure(load, "primary", out)
    started = time.monotonic()
    try:
        replica.start()
        replica.wait_caught_up(timeout=600)
        out["replica_setup_s"] = round(time.monotonic() - started, 1)
        env = {**run.env, "DATABASE_REPLICA_URL": replica.url}
        web, base_url = processes.start_web(
            env, config.web_workers(), run.work_dir, name="web-replica"
        )
        run.processes.append(web)
        try:
            runner = app.LoadRunner(web, base_url, seeded["api_key"], run.work_dir,
                                    run.scale.duration)  # fmt: skip
            runner.count = 1000  # its own load files
            measure(runner, "replica", out)
        finally:
            run.processes.remove(web)
            web.stop()
    finally:
        replica.remove()
    return out
