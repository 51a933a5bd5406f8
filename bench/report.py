"""The report: every figure next to the limit measured in the same run, the ratio, and
whether the issue's target is met; written as JSON and as a markdown table."""

import json
import os
import platform
import subprocess
from pathlib import Path

from bench.report_common import NOT_AVAILABLE
from bench.report_common import get as _get
from bench.report_common import met as _met
from bench.report_common import ratio as _ratio
from bench.report_rows import floor_row, large_tables_row, replica_row


def rows(results: dict, scale) -> list[dict]:
    """One row per target of issue 8."""
    r = results
    out = []

    def add(name, figure, limit, ratio, target, met, note=""):
        out.append(
            {"figure": name, "value": figure, "limit": limit, "ratio": ratio,
             "target": target, "met": met, "note": note}
        )  # fmt: skip

    single = r.get("api.ingest_single") or {}
    tx = _get(r, "raw.single_tx")
    add(
        "Single-purchase ingest (32 clients)",
        f"{single.get('per_second')} purchases/s, p99 {single.get('p99_ms')} ms",
        f"{tx} single-row tx/s",
        _ratio(single.get("per_second"), tx),
        ">= 800/s, p99 < 100 ms",
        _met(single.get("per_second"), 800, ">=") and _met(single.get("p99_ms"), 100, "<"),
    )
    floor = r.get("http.floor") or {}
    add(*floor_row("Single-purchase ingest against the /healthz floor (issue 21)", single, floor))
    batch = r.get("api.ingest_batch") or {}
    copy = _get(r, "raw.copy_batch")
    add(
        f"Batch ingest ({scale.batch_size:,} per request)",
        f"{batch.get('per_second')} purchases/s, p99 {batch.get('p99_ms')} ms",
        f"{copy} rows/s COPY",
        _ratio(batch.get("per_second"), copy),
        ">= 20,000/s",
        _met(batch.get("per_second"), 20_000, ">="),
    )
    drain = r.get("award.drain") or {}
    rate = drain.get("per_second")
    ratio = _ratio(rate, copy)
    add(
        "Award pipeline draining a backlog",
        f"{rate} entries/s ({drain.get('awarded')}/{drain.get('backlog')} purchases"
        f"{'' if drain.get('completed') else ', cut off'}"
        + (
            f"; follow-up tasks done {drain['follow_up_seconds']} s later)"
            if drain.get("follow_up_seconds") is not None
            else ")"
        ),
        f"{copy} rows/s COPY",
        ratio,
        ">= 8,000/s and >= 0.5 x limit",
        _met(rate, 8000, ">=") and _met(ratio, 0.5, ">="),
    )
    pause = drain.get("longest_pause_s")
    add(
        "Award drain: rate and longest pause while a backlog remains (issue 21)",
        f"{rate} entries/s; longest pause {pause} s"
        + (f" at {drain['longest_pause_at_s']} s" if drain.get("longest_pause_at_s") else "")
        + f", {drain.get('pauses_over_limit')} over 5 s",
        f"{copy} rows/s COPY",
        ratio,
        ">= 0.05 x limit, no pause > 5 s",
        None if pause is None else _met(ratio, 0.05, ">=") and _met(pause, 5, "<="),
        f"awards worker {_processes(r, 'award.drain_cpu')}; progress sampled every "
        f"{drain.get('sample_interval_s')} s",
    )
    scaling = r.get("award.scaling") or {}
    one = (scaling.get("1") or {}).get("per_second")
    for count in ("1", "2"):
        run = scaling.get(count)
        name = f"Awards queue, {count} worker process{'es' if count == '2' else ''} (-c {count})"
        if not isinstance(run, dict):
            add(name, NOT_AVAILABLE, "-", None, "reported", None)
            continue
        cpu = run.get("cpu") or {}
        speedup = _ratio(run.get("per_second"), one, 2) if count == "2" else None
        add(
            name,
            f"{run.get('per_second')} entries/s ({run.get('awarded')}/{run.get('backlog')} "
            f"purchases{'' if run.get('completed') else ', cut off'}), longest pause "
            f"{run.get('longest_pause_s')} s; {_cpu_text(cpu)}"
            + ("" if speedup is None else f"; {speedup} x the 1-process rate"),
            f"{copy} rows/s COPY",
            _ratio(run.get("per_second"), copy),
            "reported (with cores and CPU per process)",
            None,
            f"{scaling.get('cores')} cores (os.cpu_count())",
        )
    idle = r.get("award.idle_latency") or {}
    add(
        "Purchase to points, idle",
        f"p50 {idle.get('p50_ms')} ms, max {idle.get('max_ms')} ms "
        f"({idle.get('awarded')}/{idle.get('sent')})",
        "-",
        None,
        "< 1 s",
        _met(idle.get("max_ms"), 1000, "<") and idle.get("awarded") == idle.get("sent"),
    )
    reads = r.get("api.balance_during_drain") or {}
    pk = _get(r, "raw.pk_read")
    add(
        "Balance reads during the drain (32 clients)",
        f"{reads.get('per_second')} reads/s, p99 {reads.get('p99_ms')} ms",
        f"{pk} PK reads/s (p99 {_get(r, 'raw.pk_read', 'p99_ms')} ms)",
        _ratio(reads.get("per_second"), pk),
        "p99 < 10 ms",
        _met(reads.get("p99_ms"), 10, "<"),
    )
    add(*floor_row("Balance reads during the drain against the /healthz floor (issue 21)",
                    reads, floor))  # fmt: skip
    replica = r.get("replica") or {}
    for kind, name in (("balance", "Balance reads"), ("portal", "Portal dashboard")):
        add(*replica_row(replica, kind, f"{name} served by a streaming replica (issue 21)"))
    for key, name, target, limit_ms in (
        ("portal.dashboard", "Portal dashboard, long history (32 clients)", "-", None),
        ("staff.dashboard", "Staff dashboard (1 client)", "< 300 ms", 300),
    ):
        page = r.get(key)
        if page == NOT_AVAILABLE or page is None:
            add(name, NOT_AVAILABLE, "-", None, target, None)
            continue
        add(
            name,
            f"{page.get('per_second')} pages/s, p50 {page.get('p50_ms')} ms, "
            f"p95 {page.get('p95_ms')} ms, p99 {page.get('p99_ms')} ms"
            + ("" if not _errors(page) else f", statuses {page.get('statuses')}"),
            f"/healthz {floor.get('per_second')}/s, p50 {floor.get('p50_ms')} ms",
            _ratio(page.get("per_second"), floor.get("per_second")),
            target,
            None
            if limit_ms is None
            else _met(page.get("p95_ms"), limit_ms, "<") and not _errors(page),
        )
    for key, name, target in (
        ("nightly.engagement", "Engagement recompute", "< 30 s for 1M, <= 1.5 x aggregate"),
        ("nightly.metric_snapshots", "Metric snapshots", "-"),
        ("nightly.expiry", "Expiry run", "-"),
    ):
        job = r.get(key)
        if job == NOT_AVAILABLE or job is None:
            add(name, NOT_AVAILABLE, "-", None, target, None)
            continue
        seconds, agg = job.get("seconds"), job.get("aggregate_s")
        value = f"{seconds} s" if seconds is not None else (
            f"cut off after {job.get('cut_off_after_s')} s" if job.get("cut_off_after_s")
            else "error")  # fmt: skip
        ratio = _ratio(seconds, agg, 2)
        met = None
        if key == "nightly.engagement" and seconds is not None:
            met = _met(ratio, 1.5, "<=")
            if scale.customers >= 100_000:  # below that, fixed costs make scaling meaningless
                per_million = seconds * 1_000_000 / scale.customers
                met = met and per_million < 30
                value += f" ({per_million:.1f} s scaled linearly to 1M customers)"
        elif key == "nightly.engagement":
            met = False
        add(name, value, f"{agg} s bare SQL aggregate", ratio, target, met)
    add(*_expiry_write_row(r.get("nightly.expiry")))
    add(*large_tables_row(r.get("large_tables")))
    for key, name in (
        ("what_if.tiers", "What-if: tier thresholds, whole history"),
        ("what_if.campaign", "What-if: draft campaign, whole history"),
    ):
        add(*_what_if_row(r.get(key), name, scale))
    add(*_import_row(r.get("imports.members"), "check"))
    add(*_import_row(r.get("imports.members"), "commit"))
    exports = r.get("exports") or {}
    add(
        "Exports streamed (members, ledger)",
        ", ".join(
            f"{k}: {v.get('rows')} rows at {v.get('rows_per_s')}/s, "
            f"RSS +{v.get('rss_growth_mib')} MiB"
            for k, v in exports.items()
            if isinstance(v, dict)
        )
        or str(exports.get("error") or exports.get("cut_off_after_s") or NOT_AVAILABLE)[-200:],
        "-",
        None,
        "-",
        None,
    )
    rss = r.get("award.worker_rss") or {}
    procs = rss.get("pool_processes") or []
    growth = max((p["growth_mib"] for p in procs), default=None)
    add(
        "Worker RSS while draining",
        ", ".join(f"{p['start_mib']}->{p['max_mib']} MiB max" for p in procs) or "-",
        "-",
        None,
        "flat (growth <= 10 MiB)",
        None if growth is None else growth <= 10,
        f"growth {growth} MiB over {drain.get('awarded')} purchases",
    )
    return out


def _cpu_text(cpu: dict) -> str:
    """CPU seconds of each worker process over the drain, and the machine's busy cores."""
    parts = []
    for name, worker in (cpu.get("workers") or {}).items():
        pool = ", ".join(f"{s} s" for s in worker.get("pool_cpu_s") or []) or "-"
        exited = worker.get("exited_pool_cpu_s")
        parts.append(
            f"{name} pool CPU {pool} (parent {worker.get('parent_cpu_s')} s"
            + (f", exited {exited} s" if exited else "")
            + ")"
        )
    busy = cpu.get("machine_busy_cores")
    text = "; ".join(parts) or "CPU -"
    if busy is not None:
        text += f" over {cpu.get('seconds')} s, machine {busy} of {cpu.get('cores')} cores busy"
    kinds = cpu.get("by_kind_cpu_s")
    if kinds:
        text += " (CPU s by kind: " + ", ".join(f"{k} {v}" for k, v in kinds.items()) + ")"
    return text


def _processes(r: dict, key: str) -> str:
    cpu = r.get(key) or {}
    awards = (cpu.get("workers") or {}).get("awards") or {}
    return f"{len(awards.get('pool_cpu_s') or [])} processes, {_cpu_text(cpu)}"


def _what_if_row(job, name: str, scale) -> tuple:
    """A what-if run: its time for the purchases it replayed, scaled to a million (the
    issue's target: within a minute for 1M purchases; not judged below 100,000, where
    fixed costs make scaling meaningless)."""
    target = "< 60 s for 1M purchases"
    if not isinstance(job, dict):
        return name, NOT_AVAILABLE, "-", None, target, None
    seconds, purchases = job.get("seconds"), job.get("purchases")
    if seconds is None or not purchases:
        cut = job.get("cut_off_after_s")
        value = f"cut off after {cut} s" if cut else f"error: {str(job.get('error'))[-200:]}"
        return name, value, "-", None, target, False
    per_million = seconds * 1_000_000 / purchases
    value = f"{seconds} s (CPU {job.get('cpu_seconds')} s) for {purchases:,} purchases"
    met = per_million < 60 if purchases >= 100_000 else None
    return name, value, "-", None, target, met, f"{per_million:.1f} s per million"


def _import_row(job, step: str) -> tuple:
    """The members import's dry run or import (rows/s) against a COPY of the same rows."""
    what = "dry run (upload + check)" if step == "check" else "import (re-check + write)"
    name = f"Members import, {what}"
    if not isinstance(job, dict) or job.get(f"{step}_per_s") is None:
        value = NOT_AVAILABLE if not isinstance(job, dict) else (
            f"cut off after {job['cut_off_after_s']} s" if job.get("cut_off_after_s")
            else f"error: {str(job.get('error'))[-200:]}")  # fmt: skip
        return name, value, "-", None, "-", None
    return (
        name,
        f"{job[f'{step}_per_s']} rows/s ({job['rows']:,} rows in {job[f'{step}_s']} s)",
        f"{job['copy_per_s']} rows/s COPY of the same rows",
        job.get(f"{step}_ratio"),
        "-",
        None,
        f"peak RSS {job.get('rss_peak_mib')} MiB",
    )


def _errors(page: dict) -> bool:
    return any(not s.startswith("2") for s in (page.get("statuses") or {}))


def machine(db_version: str, db_settings: dict, redis_version: str) -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    except OSError:
        mem_kib = 0
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True, text=True, check=False,
        ).stdout.strip()  # fmt: skip
    except OSError:
        commit = ""
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": db_version,
        "postgresql_settings": db_settings,
        "redis": redis_version,
        "commit": commit,
        "load_average_at_start": os.getloadavg(),
    }


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"Run {report['started_at']} at scale `{report['scale']['name']}` "
        f"({report['scale']['customers']:,} customers, {report['scale']['purchases']:,} "
        f"purchases, backlog {report['scale']['backlog']:,}), commit {m['commit']}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; "
        f"PostgreSQL {m['postgresql']} ({', '.join(f'{k}={v}' for k, v in m['postgresql_settings'].items())}); "  # noqa: E501
        f"Redis {m['redis']}; Python {m['python']}; load average at start "
        f"{', '.join(f'{x:.2f}' for x in m['load_average_at_start'])}.",
        "",
        "| Figure | Measured | Limit (same run) | Ratio | Target | Met? |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["table"]:
        met = {True: "yes", False: "**no**", None: "-"}[row["met"]]
        ratio = "-" if row["ratio"] is None else f"{row['ratio']}"
        note = f" ({row['note']})" if row["note"] else ""
        lines.append(
            f"| {row['figure']} | {row['value']}{note} | {row['limit']} | {ratio} | "
            f"{row['target']} | {met} |"
        )
    lines += ["", "Raw limits and the HTTP floor (32 clients):", ""]
    lines += [
        "| Limit | Throughput | p50 ms | p95 ms | p99 ms |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key in ("raw.single_tx", "raw.copy_batch", "raw.insert_batch", "raw.pk_read",
                "http.floor", "http.static"):  # fmt: skip
        value = report["results"].get(key) or {}
        lines.append(
            f"| {key} | {value.get('per_second')}/s | {value.get('p50_ms')} | "
            f"{value.get('p95_ms')} | {value.get('p99_ms')} |"
        )
    for name, prof in (report["results"].get("profiles") or {}).items():
        lines += ["", f"Profile of {name} ({prof.get('samples')} samples, py-spy):", ""]
        lines += ["| Project function (on the stack) | % | Innermost frame (self) | % |",
                  "| --- | --- | --- | --- |"]  # fmt: skip
        inclusive = prof.get("project_inclusive_top") or []
        own = prof.get("self_top") or []
        for i in range(min(10, max(len(inclusive), len(own)))):
            a = inclusive[i] if i < len(inclusive) else ("", "")
            b = own[i] if i < len(own) else ("", "")
            lines.append(f"| `{a[0]}` | {a[1]} | `{b[0]}` | {b[1]} |")
    if report.get("errors"):
        lines += ["", "Errors:", ""] + [f"- {k}: {v}" for k, v in report["errors"].items()]
    return "\n".join(lines) + "\n"


def write(report: dict, results_dir: Path, stem: str) -> tuple[Path, Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    json_path = results_dir / f"{stem}.json"
    md_path = results_dir / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path


def _expiry_write_row(job) -> tuple:
    """The expiry's entries per second next to a COPY of the same rows in the same run."""
    name, target = "Expiry write rate", ">= 0.2 x COPY of the same rows"
    same = job.get("same_rows") if isinstance(job, dict) else None
    if not same or same.get("copy_ratio") is None:
        return name, NOT_AVAILABLE, "-", None, target, None
    return (
        name,
        f"{same['per_second']} entries/s ({same['rows']} entries)",
        f"COPY of the same rows {same['copy_per_second']}/s",
        same["copy_ratio"],
        target,
        same["copy_ratio"] >= 0.2,
    )
