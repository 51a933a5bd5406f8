"""Rows of the report for issue 21's figures: interactive requests against the
``/healthz`` floor, reads on a streaming replica, the large-table plan."""

from bench.report_common import NOT_AVAILABLE, met, ratio


def floor_row(name: str, load: dict, floor: dict) -> tuple:
    """Issue 21's targets for interactive requests: throughput >= 0.5 x the /healthz floor
    and p99 <= 2 x the floor's p99, both of the same run with the same 32 clients."""
    rate, p99 = load.get("per_second"), load.get("p99_ms")
    f_rate, f_p99 = floor.get("per_second"), floor.get("p99_ms")
    of_floor = ratio(rate, f_rate)
    p99_ratio = ratio(p99, f_p99, 2)
    judged = None if rate is None or f_rate is None else (
        met(of_floor, 0.5, ">=") and met(p99_ratio, 2, "<="))  # fmt: skip
    return (
        name,
        f"{rate}/s, p99 {p99} ms ({p99_ratio} x the floor's p99)",
        f"/healthz {f_rate}/s, p99 {f_p99} ms",
        of_floor,
        ">= 0.5 x floor, p99 <= 2 x floor's p99",
        judged,
    )


def replica_row(replica: dict, kind: str, name: str) -> tuple:
    """The same reads against web processes reading the primary, then a replica."""
    on_replica, on_primary = replica.get(f"replica.{kind}"), replica.get(f"primary.{kind}")
    if not isinstance(on_replica, dict) or not isinstance(on_primary, dict):
        return name, NOT_AVAILABLE, "-", None, "reported", None
    return (
        name,
        f"{on_replica.get('per_second')}/s, p99 {on_replica.get('p99_ms')} ms; transactions "
        f"per request: replica {on_replica.get('replica_tx_per_request')}, primary "
        f"{on_replica.get('primary_tx_per_request')}",
        f"on the primary {on_primary.get('per_second')}/s, p99 {on_primary.get('p99_ms')} ms "
        f"(primary {on_primary.get('primary_tx_per_request')} transactions per request)",
        ratio(on_replica.get("per_second"), on_primary.get("per_second"), 2),
        "reported",
        None,
        f"replica on the same {replica.get('cores')} cores; set up in "
        f"{replica.get('replica_setup_s')} s",
    )


def large_tables_row(plan) -> tuple:
    """bench/partitions.py: the expiry's writes as set-based SQL on today's tables and on
    lots and ledger partitioned by month, next to a COPY of the same entries."""
    name = "Expiry writes, large-table plan: lots and ledger by month (issue 21)"
    target = ">= 0.2 x COPY of the same rows"
    if not isinstance(plan, dict) or not isinstance(plan.get("partitioned"), dict):
        return name, NOT_AVAILABLE, "-", None, target, None
    today, parts, copy = plan.get("today") or {}, plan["partitioned"], plan.get("copy") or {}
    return (
        name,
        f"{parts.get('per_second')} entries/s partitioned ({parts.get('entries')} entries, "
        f"{parts.get('partitions_scanned')} lot partitions read); today's tables, same SQL: "
        f"{today.get('per_second')}/s ({today.get('copy_ratio')} x COPY)",
        f"{copy.get('per_second')} rows/s COPY of the same rows",
        parts.get("copy_ratio"),
        target,
        met(parts.get("copy_ratio"), 0.2, ">="),
        f"{plan.get('lots')} lots, {plan.get('entries')} entries; copies built in "
        f"{(plan.get('build') or {}).get('seconds')} s",
    )
