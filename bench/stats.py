"""Throughput and latency percentiles of one measured phase."""

import math


def percentile(sorted_values: list[float], p: float) -> float | None:
    if not sorted_values:
        return None
    rank = max(0, math.ceil(p / 100 * len(sorted_values)) - 1)
    return sorted_values[rank]


def summary(latencies: list[float], elapsed: float, *, units: int | None = None) -> dict:
    """``latencies`` in seconds, one per operation; ``units`` counts what the throughput is
    of (rows, purchases) when an operation carries more than one."""
    values = sorted(latencies)
    count = len(values)
    done = units if units is not None else count

    def ms(p):
        value = percentile(values, p)
        return None if value is None else round(value * 1000, 2)

    return {
        "operations": count,
        "units": done,
        "seconds": round(elapsed, 3),
        "per_second": round(done / elapsed, 1) if elapsed > 0 else None,
        "p50_ms": ms(50),
        "p95_ms": ms(95),
        "p99_ms": ms(99),
        "max_ms": ms(100),
    }
