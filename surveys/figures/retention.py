"""Who bought in each calendar span (months, quarters) and in the span of the same length
before it: the retention rate's inputs (``BuyerCounts``).

One pass over the purchases: each member's purchases become a bit mask (one bit per
stretch between two span boundaries, 63 to a 64-bit word), counted per program, tier,
partners and mask. Which spans a member bought in, before, or both, is then read from
the masks with numpy, for all spans at once, instead of joining every purchase to every
span it falls in (docs/benchmarks.md)."""

import numpy as np
from django.db import connection

from programs.models import Purchase, PurchaseStatus
from surveys.figures.scope import MEMBER_GROUPS
from surveys.figures.spans import Span

PURCHASES = Purchase._meta.db_table
RETENTION_FIELDS = ("buyers", "buyers_before", "buyers_retained")
BITS = 63  # per signed 64-bit word


def _masks_sql(words: int) -> str:
    masks = ",\n        ".join(
        f"coalesce(bit_or(1::bigint << (b.k %% {BITS})) FILTER (WHERE b.k / {BITS} = {w}), 0)"
        f" AS w{w}"
        for w in range(words)
    )
    columns = ", ".join(f"mm.w{w}" for w in range(words))
    return f"""
WITH {MEMBER_GROUPS},
member_mask AS (
    SELECT b.membership_id,
        {masks}
    FROM (
        SELECT p.membership_id, width_bucket(p.occurred_at, %(bounds)s::timestamptz[]) - 1 AS k
        FROM {PURCHASES} p
        WHERE p.status <> %(rejected)s AND p.occurred_at >= %(first)s AND p.occurred_at < %(last)s
    ) b
    GROUP BY b.membership_id
)
SELECT g.program_id, g.tier_id, g.partners, {columns}, count(*)
FROM member_mask mm
JOIN member_group g ON g.membership_id = mm.membership_id
GROUP BY 1, 2, 3, {columns}
"""  # noqa: S608 - table names from the models; words are our own numbers


def retention_counts(spans: list[Span]) -> list[dict]:
    """Per span (months, quarters), program, tier (the member's tier now) and partner
    (None: all members): ``buyers``, members with a purchase in the span;
    ``buyers_before``, in the span of the same length before it; ``buyers_retained``,
    in both. A group appears for a span if it has buyers in it or before it."""
    if not spans:
        return []
    bounds = sorted({t for s in spans for t in (s.before_at, s.start_at, s.end_at)})
    index = {t: i for i, t in enumerate(bounds)}
    stretches = len(bounds) - 1  # stretch k: [bounds[k], bounds[k + 1])
    words = max(1, -(-stretches // BITS))
    params = {
        "rejected": PurchaseStatus.REJECTED,
        "bounds": bounds,
        "first": bounds[0],
        "last": bounds[-1],
    }
    with connection.cursor() as cursor:
        cursor.execute(_masks_sql(words), params)
        found = cursor.fetchall()
    if not found:
        return []
    group_of: dict[tuple, int] = {}  # (program, tier, partners): number
    groups = np.fromiter(
        (group_of.setdefault((row[0], row[1], tuple(row[2])), len(group_of)) for row in found),
        np.int64,
        len(found),
    )
    masks = np.array([row[3 : 3 + words] for row in found], dtype=np.int64).reshape(-1, words)
    members = np.fromiter((row[-1] for row in found), np.int64, len(found))
    keys = list(group_of)

    def bought(first: int, last: int) -> np.ndarray:
        """Whether each row has a purchase in stretches first..last-1."""
        hit = np.zeros(len(found), dtype=bool)
        for w in range(first // BITS, -(-last // BITS)):
            low, high = max(first - w * BITS, 0), min(last - w * BITS, BITS)
            if low < high:
                hit |= (masks[:, w] & np.int64((1 << high) - (1 << low))) != 0
        return hit

    rows = []
    for span in spans:
        before_at, start_at, end_at = (
            index[span.before_at],
            index[span.start_at],
            index[span.end_at],
        )
        # 1: bought in the span, 2: before it, 3: both
        code = bought(start_at, end_at) + 2 * bought(before_at, start_at).astype(np.int64)
        counts = np.bincount(groups * 4 + code, weights=members, minlength=4 * len(keys))
        # each group counts for all members (partner None) and for each of its partners
        scoped: dict[tuple, list[int]] = {}
        for (program, tier, partners), (_none, during, before, both) in zip(
            keys, counts.reshape(-1, 4).astype(int).tolist(), strict=True
        ):
            for partner in (None, *partners):
                total = scoped.setdefault((program, tier, partner), [0, 0, 0])
                total[0] += during + both
                total[1] += before + both
                total[2] += both
        rows.extend(
            {
                "span": span,
                "program": program,
                "tier": tier,
                "partner": partner,
                **dict(zip(RETENTION_FIELDS, total, strict=True)),
            }
            for (program, tier, partner), total in scoped.items()
            if total[0] or total[1]
        )
    return rows
