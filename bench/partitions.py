"""The large-table plan of issue 21, tried on a seeded bench database: the points expiry's
writes against today's tables, and against lots partitioned by expiry month and a ledger
partitioned by creation month, next to a raw COPY of the same entries.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_bench python -m bench.partitions

Builds copies of ``programs_pointlot`` and ``programs_ledgerentry`` in a schema of its
own (``part_plan``, dropped at the end): lots ``PARTITION BY RANGE (expires_at)`` and the
ledger ``PARTITION BY RANGE (created_at)``, one partition per month, with the indexes
today's tables have that a partitioned table can have. A partitioned table's unique
indexes must contain the partition key, so the ledger's idempotency keys move to a table
of their own (``entry_keys``: key, entry id), written in the same transaction.

Then, for each layout, the expiry of every due lot in ONE transaction, as set-based SQL
(what ``lots_expire_many`` writes: an expire entry per lot with its idempotency key, the
lot's allocation, the lot set to zero and expired, the memberships' balances), foreign
keys checked per statement (``SET CONSTRAINTS ALL IMMEDIATE``), then rolled back so that
both layouts expire the same lots; the better of two runs. The COPY is of the same
entries into a scratch table shaped like the ledger, as ``bench/nightly.py`` measures it.
Prints a JSON report; the figures are in docs/benchmarks.md ("Large tables").
"""

import json
import os
import sys
import time

import psycopg

SCHEMA = "part_plan"
DUE = "expired_at IS NULL AND released_at IS NOT NULL AND remaining > 0 AND expires_at <= %(now)s"
ENTRY_COLUMNS = (
    "id, kind, points, pending_points, held_points, balance_after, pending_after, source, "
    "actor_type, reason, idempotency_key, created_at, effective_at, membership_id"
)


def _months(conn, table: str, column: str) -> list[str]:
    first, last = conn.execute(
        f"SELECT date_trunc('month', min({column})), date_trunc('month', max({column})) "
        f"FROM {table}"
    ).fetchone()
    months = []
    current = first
    while current is not None and current <= last:
        months.append(current)
        current = conn.execute("SELECT %s::timestamptz + interval '1 month'", [current]).fetchone()[
            0
        ]
    return months


def _partitioned(conn, name: str, source: str, key: str) -> int:
    conn.execute(
        f"CREATE TABLE {SCHEMA}.{name} (LIKE {source} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        f" PARTITION BY RANGE ({key})"
    )
    months = _months(conn, source, key)
    for month in months:
        start = f"'{month.isoformat()}'::timestamptz"  # from the database; DDL takes no $1
        conn.execute(
            f"CREATE TABLE {SCHEMA}.{name}_{month:%Y_%m} PARTITION OF {SCHEMA}.{name} "
            f"FOR VALUES FROM ({start}) TO ({start} + interval '1 month')"
        )
    conn.execute(f"CREATE TABLE {SCHEMA}.{name}_other PARTITION OF {SCHEMA}.{name} DEFAULT")
    conn.execute(f"INSERT INTO {SCHEMA}.{name} SELECT * FROM {source}")
    return len(months)


def build(conn) -> dict:
    started = time.monotonic()
    conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    conn.execute(f"CREATE SCHEMA {SCHEMA}")
    lot_months = _partitioned(conn, "lots", "programs_pointlot", "expires_at")
    s = SCHEMA
    conn.execute(f"ALTER TABLE {s}.lots ADD PRIMARY KEY (id, expires_at)")
    conn.execute(
        f"CREATE INDEX ON {s}.lots (expires_at) WHERE expired_at IS NULL AND remaining > 0"
    )
    conn.execute(f"CREATE INDEX ON {s}.lots (available_at) WHERE released_at IS NULL")
    conn.execute(f"CREATE INDEX ON {s}.lots (membership_id, released_at)")
    conn.execute(f"CREATE INDEX ON {s}.lots (earn_entry_id)")
    conn.execute(
        f"ALTER TABLE {s}.lots ADD FOREIGN KEY (membership_id) "
        "REFERENCES programs_membership (id) DEFERRABLE INITIALLY DEFERRED"
    )
    ledger_months = _partitioned(conn, "ledger", "programs_ledgerentry", "created_at")
    conn.execute(f"ALTER TABLE {s}.ledger ADD PRIMARY KEY (id, created_at)")
    conn.execute(f"CREATE INDEX ON {s}.ledger (membership_id, effective_at DESC, id DESC)")
    conn.execute(f"CREATE INDEX ON {s}.ledger (kind, created_at)")
    conn.execute(f"CREATE INDEX ON {s}.ledger (purchase_id)")
    conn.execute(
        f"ALTER TABLE {s}.ledger ADD FOREIGN KEY (membership_id) "
        "REFERENCES programs_membership (id) DEFERRABLE INITIALLY DEFERRED"
    )
    conn.execute(
        f"CREATE TABLE {s}.entry_keys (idempotency_key varchar(200) PRIMARY KEY, "
        "entry_id bigint NOT NULL)"
    )
    conn.execute(f"INSERT INTO {s}.entry_keys SELECT idempotency_key, id FROM programs_ledgerentry")
    conn.execute(
        f"CREATE TABLE {s}.allocations "
        "(LIKE programs_lotallocation INCLUDING DEFAULTS INCLUDING IDENTITY)"
    )
    conn.execute(f"ALTER TABLE {s}.allocations ADD PRIMARY KEY (id)")
    conn.execute(f"CREATE INDEX ON {s}.allocations (entry_id)")
    conn.execute(f"CREATE INDEX ON {s}.allocations (lot_id)")
    conn.execute(f"ANALYZE {s}.lots, {s}.ledger, {s}.entry_keys, {s}.allocations")
    return {
        "seconds": round(time.monotonic() - started, 1),
        "lot_partitions": lot_months + 1,
        "ledger_partitions": ledger_months + 1,
    }


def expire_sql(lots: str, ledger: str, allocations: str, keys: str | None) -> list[str]:
    """The expiry's writes for every due lot, in statements over a temporary table of the
    due lots (locked), with each entry's id and running balance computed in SQL."""
    statements = [
        f"""CREATE TEMP TABLE due ON COMMIT DROP AS
            SELECT l.id lot_id, l.membership_id, l.remaining, l.expires_at,
                   nextval(pg_get_serial_sequence('programs_ledgerentry', 'id')) entry_id,
                   m.balance - sum(l.remaining) OVER (PARTITION BY l.membership_id
                       ORDER BY l.id) balance_after, m.pending pending_after
            FROM (SELECT * FROM {lots} WHERE {DUE} FOR UPDATE) l
            JOIN programs_membership m ON m.id = l.membership_id""",
        f"""INSERT INTO {ledger} ({ENTRY_COLUMNS})
            SELECT entry_id, 'expire', -remaining, 0, 0, balance_after, pending_after,
                   'system', 'system', 'lot ' || lot_id, 'bench:expire:lot:' || lot_id,
                   %(now)s, %(now)s, membership_id FROM due""",
        f"""INSERT INTO {allocations} (entry_id, lot_id, points)
            SELECT entry_id, lot_id, remaining FROM due""",
        f"""UPDATE {lots} l SET remaining = 0, expired_at = %(now)s FROM due
            WHERE l.id = due.lot_id AND l.expires_at = due.expires_at""",
        """UPDATE programs_membership m SET balance = m.balance - d.points
            FROM (SELECT membership_id, sum(remaining) points FROM due GROUP BY 1) d
            WHERE m.id = d.membership_id""",
    ]
    if keys is not None:
        statements.insert(
            2,
            f"""INSERT INTO {keys} (idempotency_key, entry_id)
                SELECT 'bench:expire:lot:' || lot_id, entry_id FROM due""",
        )
    return statements


def timed_expiry(conn, statements: list[str], now) -> tuple[float, int]:
    """Run the statements in one transaction, rolled back; seconds and entries."""
    with conn.transaction(force_rollback=True):
        conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        started = time.monotonic()
        for statement in statements:
            conn.execute(statement, {"now": now})
        seconds = time.monotonic() - started
        entries = conn.execute("SELECT count(*) FROM due").fetchone()[0]
    return seconds, entries


def copy_rate(conn, now) -> tuple[float, int]:
    """A raw COPY of the same entries (rows as the partitioned expiry would write them)
    into a scratch table shaped like the ledger: seconds, rows."""
    rows = conn.execute(
        f"""SELECT id, 'expire', -remaining, 0, 0, 0::bigint, 0::bigint, 'system', 'system',
                  'lot ' || id, 'bench:expire:lot:' || id, %(now)s::timestamptz,
                  %(now)s::timestamptz, membership_id
            FROM programs_pointlot WHERE {DUE}""",
        {"now": now},
    ).fetchall()
    best = None
    for _ in range(2):
        with conn.transaction(force_rollback=True):
            conn.execute("CREATE TEMP TABLE scratch (LIKE programs_ledgerentry INCLUDING DEFAULTS)")
            conn.execute("ALTER TABLE scratch ADD PRIMARY KEY (id), ADD UNIQUE (idempotency_key)")
            conn.execute("CREATE INDEX ON scratch (membership_id, effective_at DESC, id DESC)")
            started = time.monotonic()
            with conn.cursor().copy(f"COPY scratch ({ENTRY_COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            took = time.monotonic() - started
        best = took if best is None else min(best, took)
    return best, len(rows)


def main() -> int:
    url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/loyalty_bench")
    print(json.dumps(run(url), indent=2, default=str))
    return 0


def run(url: str) -> dict:
    """Build the partitioned copies, time both layouts' expiry and the COPY, drop the
    copies (unless ``KEEP_PART_PLAN=1``); the figures as a dict."""
    out: dict = {"database": url.rsplit("/", 1)[-1]}
    with psycopg.connect(url, autocommit=True) as conn:
        out["lots"] = conn.execute("SELECT count(*) FROM programs_pointlot").fetchone()[0]
        # The bench's own expiry run has expired what was due: expire "now" = the date by
        # which the next EXPIRE_LOTS lots (default 2 % of all) fall due.
        wanted = int(os.environ.get("EXPIRE_LOTS") or max(out["lots"] // 50, 1))
        now = conn.execute(
            "SELECT max(expires_at) FROM (SELECT expires_at FROM programs_pointlot "
            "WHERE expired_at IS NULL AND released_at IS NOT NULL AND remaining > 0 "
            "AND expires_at IS NOT NULL ORDER BY expires_at LIMIT %s) s",
            [wanted],
        ).fetchone()[0]
        if now is None:
            raise SystemExit("no lot left to expire: seed the bench database first")
        out["expire_at"] = now.isoformat()
        out["entries"] = conn.execute("SELECT count(*) FROM programs_ledgerentry").fetchone()[0]
        out["build"] = build(conn)
        conn.execute("SET session_replication_role = DEFAULT")
        tables = {  # lots, ledger, allocations, idempotency keys
            "today": ("programs_pointlot", "programs_ledgerentry", "programs_lotallocation", None),
            "partitioned": (f"{SCHEMA}.lots", f"{SCHEMA}.ledger", f"{SCHEMA}.allocations",
                            f"{SCHEMA}.entry_keys"),
        }  # fmt: skip
        copy_s, copied = copy_rate(conn, now)
        out["copy"] = {"rows": copied, "seconds": round(copy_s, 4),
                       "per_second": round(copied / copy_s, 1)}  # fmt: skip
        for name, layout in tables.items():
            statements = expire_sql(*layout)
            runs = [timed_expiry(conn, statements, now) for _ in range(2)]
            seconds = min(s for s, _ in runs)
            entries = runs[0][1]
            out[name] = {
                "entries": entries,
                "seconds": round(seconds, 3),
                "per_second": round(entries / seconds, 1) if seconds else None,
                "copy_ratio": round(entries / seconds / (copied / copy_s), 3) if seconds else None,
            }
            plan = conn.execute(
                f"EXPLAIN SELECT 1 FROM {layout[0]} WHERE {DUE}", {"now": now}
            ).fetchall()
            out[name]["partitions_scanned"] = sum(
                1 for (line,) in plan if "Scan" in line and " on " in line
            )
        if os.environ.get("KEEP_PART_PLAN") != "1":
            conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    return out


if __name__ == "__main__":
    sys.exit(main())
