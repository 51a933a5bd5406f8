"""The limits of this database on this machine, measured through psycopg at the same
client concurrency as the application: what one award costs at the least (a single-row
insert and update in one transaction), what batched inserts reach (COPY and multi-row
INSERT of ledger-like rows), and primary-key reads of a real table.

The scratch tables are shaped like the ledger (same column types, a unique idempotency key,
an index on (membership, time)); they live in the bench database only.
"""

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime

import psycopg

from bench.stats import summary

BATCH = 1000

SCHEMA = """
DROP TABLE IF EXISTS bench_raw_entry;
DROP TABLE IF EXISTS bench_raw_balance;
CREATE TABLE bench_raw_entry (
    id bigserial PRIMARY KEY,
    membership_id bigint NOT NULL,
    kind varchar(20) NOT NULL,
    points integer NOT NULL,
    pending_points integer NOT NULL,
    balance_after integer NOT NULL,
    pending_after integer NOT NULL,
    source varchar(20) NOT NULL,
    reason varchar(255) NOT NULL,
    idempotency_key varchar(200) NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);
CREATE INDEX bench_raw_entry_member ON bench_raw_entry (membership_id, created_at DESC, id DESC);
CREATE TABLE bench_raw_balance (id bigint PRIMARY KEY, balance integer NOT NULL);
INSERT INTO bench_raw_balance SELECT id, 0 FROM programs_membership;
VACUUM ANALYZE bench_raw_balance;
"""

ENTRY_COLUMNS = ("membership_id", "kind", "points", "pending_points", "balance_after",
                 "pending_after", "source", "reason", "idempotency_key", "created_at")  # fmt: skip


def _dsn(db_url: str) -> str:
    return db_url.replace("postgres://", "postgresql://", 1)


def _entry(rng: random.Random, members: int, key: str) -> tuple:
    points = rng.randint(1, 200)
    return (rng.randint(1, members), "earn", points, 0, points, 0, "purchase", "order bench",
            key, datetime.now(UTC))  # fmt: skip


class Raw:
    def __init__(self, db_url: str, members: int, concurrency: int, duration: float):
        self.dsn = _dsn(db_url)
        self.members = members
        self.concurrency = concurrency
        self.duration = duration
        self.run_id = uuid.uuid4().hex[:8]

    def prepare(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    async def _phase(self, operation, units_per_op: int = 1, *, autocommit=False) -> dict:
        phase = operation.__name__.strip("_")
        connections = [
            await psycopg.AsyncConnection.connect(self.dsn, autocommit=autocommit)
            for _ in range(self.concurrency)
        ]
        latencies: list[float] = []
        deadline = time.monotonic() + self.duration

        async def worker(index: int, conn):
            rng = random.Random(index)
            n = 0
            while time.monotonic() < deadline:
                n += 1
                started = time.perf_counter()
                await operation(conn, rng, f"{self.run_id}-{phase}-{index}-{n}")
                latencies.append(time.perf_counter() - started)

        started = time.monotonic()
        try:
            await asyncio.gather(*(worker(i, c) for i, c in enumerate(connections)))
        finally:
            elapsed = time.monotonic() - started
            for conn in connections:
                await conn.close()
        result = summary(latencies, elapsed, units=len(latencies) * units_per_op)
        result["concurrency"] = self.concurrency
        return result

    async def _single_tx(self, conn, rng, key):
        async with conn.cursor() as cursor:
            await cursor.execute(
                f"INSERT INTO bench_raw_entry ({', '.join(ENTRY_COLUMNS)}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                _entry(rng, self.members, key),
            )
            await cursor.execute(
                "UPDATE bench_raw_balance SET balance = balance + 1 WHERE id = %s",
                (rng.randint(1, self.members),),
            )
        await conn.commit()

    async def _copy_batch(self, conn, rng, key):
        async with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY bench_raw_entry ({', '.join(ENTRY_COLUMNS)}) FROM STDIN") as copy,
        ):
            for i in range(BATCH):
                await copy.write_row(_entry(rng, self.members, f"{key}-{i}"))
        await conn.commit()

    async def _insert_batch(self, conn, rng, key):
        row = "(" + ", ".join(["%s"] * len(ENTRY_COLUMNS)) + ")"
        params = []
        for i in range(BATCH):
            params.extend(_entry(rng, self.members, f"{key}-{i}"))
        async with conn.cursor() as cursor:
            await cursor.execute(
                f"INSERT INTO bench_raw_entry ({', '.join(ENTRY_COLUMNS)}) VALUES "
                + ", ".join([row] * BATCH),
                params,
                prepare=True,
            )
        await conn.commit()

    async def _pk_read(self, conn, rng, key):
        async with conn.cursor() as cursor:
            await cursor.execute(
                "SELECT balance, pending, debt FROM programs_membership WHERE id = %s",
                (rng.randint(1, self.members),),
            )
            await cursor.fetchone()

    def run(self) -> dict:
        self.prepare()
        return {
            "raw.single_tx": asyncio.run(self._phase(self._single_tx)),
            "raw.copy_batch": asyncio.run(self._phase(self._copy_batch, BATCH)),
            "raw.insert_batch": asyncio.run(self._phase(self._insert_batch, BATCH)),
            "raw.pk_read": asyncio.run(self._phase(self._pk_read, autocommit=True)),
        }
