"""HTTP load generator, run as its own process: ``python -m bench.load <spec.json>``.

A fixed number of asyncio workers (the concurrency) send requests back to back through
one httpx client for a fixed duration, on loopback only. Writes the summary as JSON to the
path given in the spec. Request bodies are built here, from the spec, so that building
them is not timed as server work but does count as client work (as it would for a real
client).
"""

import asyncio
import itertools
import json
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlparse

import httpx

from bench.stats import summary

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def purchase_body(member: str, order_id: str, rng: random.Random) -> dict:
    first = Decimal(rng.randint(100, 6000)) / 100
    second = Decimal(rng.randint(100, 4000)) / 100
    return {
        "member": member,
        "order_id": order_id,
        "amount": str(first + second),
        "currency": "EUR",
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "lines": [
            {"sku": f"SKU-{rng.randint(1, 500)}", "category": "tea", "quantity": 1,
             "unit_price": str(first)},
            {"sku": f"SKU-{rng.randint(1, 500)}", "category": "food", "quantity": 1,
             "unit_price": str(second)},
        ],
    }  # fmt: skip


class Requests:
    """Makes the next request of a scenario: (method, path, json body, units it carries)."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.kind = spec["kind"]
        self.members = spec.get("members", [])
        self.paths = spec.get("paths", [])
        self.rng = random.Random(spec.get("seed", 1))
        self.counter = itertools.count(1)
        self.prefix = spec.get("order_prefix", "bench")

    def next(self) -> tuple[str, str, dict | None, int, dict]:
        method, path, body, units = self._next()
        cookies = self.spec.get("cookies")
        headers = {"Cookie": self.rng.choice(cookies)} if cookies else {}
        return method, path, body, units, headers

    def _next(self) -> tuple[str, str, dict | None, int]:
        if self.kind == "ingest_single":
            n = next(self.counter)
            body = purchase_body(self.rng.choice(self.members), f"{self.prefix}-{n}", self.rng)
            return "POST", "/api/v1/purchases", body, 1
        if self.kind == "ingest_batch":
            size = self.spec["batch_size"]
            items = [
                purchase_body(
                    self.rng.choice(self.members), f"{self.prefix}-{next(self.counter)}", self.rng
                )
                for _ in range(size)
            ]
            return "POST", "/api/v1/purchases/batch", {"purchases": items}, size
        if self.kind == "balance":
            return "GET", f"/api/v1/members/{self.rng.choice(self.members)}/balance", None, 1
        return "GET", self.rng.choice(self.paths), None, 1


async def run(spec: dict) -> dict:
    base = spec["base_url"]
    if urlparse(base).hostname not in LOOPBACK:
        raise SystemExit(f"refusing to load {base}: loopback only")
    concurrency, duration = spec["concurrency"], spec["duration"]
    headers = {"X-Forwarded-Proto": "https", **spec.get("headers", {})}
    requests = Requests(spec)
    latencies: list[float] = []
    statuses: Counter = Counter()
    errors: Counter = Counter()
    units_done = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    # Requests still running at the deadline are waited for (the server finishes them
    # anyway, and the next phase must not share the machine with them), up to a grace.
    grace = max(30.0, 3 * duration)
    timeout = httpx.Timeout(duration + grace)
    deadline = time.monotonic() + duration
    ok_statuses = set(spec.get("ok_statuses", [200, 201, 202]))

    async with httpx.AsyncClient(
        base_url=base, headers=headers, limits=limits, timeout=timeout, follow_redirects=False
    ) as client:

        async def worker():
            nonlocal units_done
            while time.monotonic() < deadline:
                method, path, body, units, extra = requests.next()
                started = time.perf_counter()
                try:
                    response = await client.request(method, path, json=body, headers=extra)
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - started)
                statuses[response.status_code] += 1
                if response.status_code in ok_statuses:
                    units_done += units
                elif len(errors) < 5:
                    errors[f"{response.status_code}: {response.text[:200]}"] += 1

        started = time.monotonic()
        tasks = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
        _done, pending = await asyncio.wait(tasks, timeout=duration + grace)
        for task in pending:
            task.cancel()
        elapsed = time.monotonic() - started

    result = summary(latencies, elapsed, units=units_done)
    result["statuses"] = {str(k): v for k, v in sorted(statuses.items())}
    result["errors"] = dict(errors.most_common(5))
    result["concurrency"] = concurrency
    result["cut_off"] = len(pending)
    return result


def main() -> int:
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    result = asyncio.run(run(spec))
    with open(spec["out"], "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
