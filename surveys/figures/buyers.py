"""Who bought in a span, and how: the inputs of the retention and churn rates, the
repurchase rate, the upsell ratio and the historical customer lifetime value.

A purchase counts unless it was rejected; its revenue is its amount net of refunds, in
the program's currency (a program takes purchases in its own currency only). A product
is a line's SKU, or its category where the SKU is empty; a line returned in full and a
line with neither does not count."""

from decimal import Decimal

from django.db import connection

from programs.models import Purchase, PurchaseLine, PurchaseStatus
from surveys.figures.scope import MEMBERSHIPS, SCOPE_TABLE, scope_params
from surveys.figures.spans import SPAN_TABLE, Span, span_params

PURCHASES = Purchase._meta.db_table
LINES = PurchaseLine._meta.db_table

RETENTION_FIELDS = ("buyers", "buyers_before", "buyers_retained")
WINDOW_FIELDS = (
    *RETENTION_FIELDS,
    "repeat_buyers",
    "purchases",
    "revenue",
    "lifetime_days",
    "single_product_buyers",
    "multi_product_buyers",
)

_CALENDAR_SQL = f"""
WITH {SPAN_TABLE}, {SCOPE_TABLE},
bought AS (
    SELECT s.i, p.membership_id,
        bool_or(p.occurred_at >= s.start_at) AS during,
        bool_or(p.occurred_at < s.start_at) AS before
    FROM {PURCHASES} p
    JOIN span s ON p.occurred_at >= s.before_at AND p.occurred_at < s.end_at
    WHERE p.status <> %(rejected)s
    GROUP BY s.i, p.membership_id
)
SELECT b.i, m.program_id, m.tier_id, sc.partner_id,
    count(*) FILTER (WHERE b.during),
    count(*) FILTER (WHERE b.before),
    count(*) FILTER (WHERE b.during AND b.before)
FROM bought b
JOIN {MEMBERSHIPS} m ON m.id = b.membership_id
JOIN scope sc ON sc.membership_id = b.membership_id
GROUP BY 1, 2, 3, 4
"""  # noqa: S608 - table names from the models


def _window_sql(count: int) -> str:
    """Windows that all end at ``%(end)s``: one pass over the purchases per member, with
    the figures of window k (k = 1..count) in columns ``*_k``, then one row per member
    and window."""
    per_window = ",\n        ".join(
        f"count(*) FILTER (WHERE p.occurred_at >= %(start_{k})s) AS n_{k}, "
        f"count(*) FILTER (WHERE p.occurred_at >= %(before_{k})s "
        f"AND p.occurred_at < %(start_{k})s) AS b_{k}, "
        f"coalesce(sum(p.amount - p.refunded_amount) "
        f"FILTER (WHERE p.occurred_at >= %(start_{k})s), 0) AS r_{k}"
        for k in range(1, count + 1)
    )
    # One product or several in window k: the least and the greatest product bought in
    # it are equal or not. Compared as 64-bit hashes of the product key, so the lines are
    # grouped by member only (not by member and product: 2.4 million groups on the
    # bench's million purchases); two products sharing a hash is a 1 in 10^19 chance.
    product_windows = ",\n        ".join(
        f"min(k.product) FILTER (WHERE p.occurred_at >= %(start_{k})s) AS lo_{k}, "
        f"max(k.product) FILTER (WHERE p.occurred_at >= %(start_{k})s) AS hi_{k}"
        for k in range(1, count + 1)
    )
    rows = ", ".join(
        f"({k}, pm.n_{k}, pm.b_{k}, pm.r_{k}, "
        f"CASE WHEN pr.lo_{k} IS NULL THEN 0 WHEN pr.lo_{k} = pr.hi_{k} THEN 1 ELSE 2 END, "
        f"CASE WHEN pm.last_at >= %(start_{k})s THEN pm.last_at - pm.first_at END)"
        for k in range(1, count + 1)
    )
    return f"""
WITH {SCOPE_TABLE},
per_member AS MATERIALIZED (  -- once, not once per parallel worker
    SELECT p.membership_id,
        min(p.occurred_at) AS first_at,
        max(p.occurred_at) AS last_at,
        {per_window}
    FROM {PURCHASES} p
    WHERE p.status <> %(rejected)s AND p.occurred_at < %(end)s
    GROUP BY p.membership_id
),
products AS MATERIALIZED (
    SELECT p.membership_id,
        {product_windows}
    FROM {PURCHASES} p
    JOIN {LINES} l ON l.purchase_id = p.id AND l.refunded_quantity < l.quantity
    CROSS JOIN LATERAL (
        SELECT hashtextextended(
            coalesce(nullif(l.sku, ''), 'category:' || l.category), 0
        ) AS product
    ) k
    WHERE p.status <> %(rejected)s AND p.occurred_at < %(end)s
        AND p.occurred_at >= %(start_first)s
        AND coalesce(nullif(l.sku, ''), nullif(l.category, '')) IS NOT NULL
    GROUP BY p.membership_id
),
member_window AS (
    SELECT pm.membership_id, w.*
    FROM per_member pm
    LEFT JOIN products pr ON pr.membership_id = pm.membership_id
    CROSS JOIN LATERAL (VALUES {rows}) AS w(k, purchases, before, revenue, products, lifetime)
    WHERE w.purchases > 0 OR w.before > 0
)
SELECT w.k, m.program_id, m.tier_id, sc.partner_id,
    count(*) FILTER (WHERE w.purchases > 0),
    count(*) FILTER (WHERE w.before > 0),
    count(*) FILTER (WHERE w.purchases > 0 AND w.before > 0),
    count(*) FILTER (WHERE w.purchases > 1),
    coalesce(sum(w.purchases), 0),
    coalesce(sum(w.revenue), 0),
    coalesce(round(sum(extract(epoch FROM w.lifetime)) / 86400, 6), 0),
    count(*) FILTER (WHERE w.purchases > 0 AND w.products = 1),
    count(*) FILTER (WHERE w.purchases > 0 AND w.products > 1)
FROM member_window w
JOIN {MEMBERSHIPS} m ON m.id = w.membership_id
JOIN scope sc ON sc.membership_id = w.membership_id
GROUP BY 1, 2, 3, 4
"""  # noqa: S608 - table names from the models; k are our own numbers


def _fetch(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def retention_counts(spans: list[Span]) -> list[dict]:
    """Per span (months, quarters), program, tier (the member's tier now) and partner
    (None: all members): ``buyers``, members with a purchase in the span;
    ``buyers_before``, in the span of the same length before it; ``buyers_retained``,
    in both."""
    params = {**span_params(spans), **scope_params(), "rejected": PurchaseStatus.REJECTED}
    return [
        {
            "span": spans[i - 1],
            "program": program,
            "tier": tier,
            "partner": partner,
            **dict(zip(RETENTION_FIELDS, counts, strict=True)),
        }
        for i, program, tier, partner, *counts in _fetch(_CALENDAR_SQL, params)
    ]


def window_counts(windows: list[Span]) -> list[dict]:
    """Per window (all ending at the same time), program, tier (now) and partner:

    * ``buyers``, ``buyers_before``, ``buyers_retained`` as in ``retention_counts``;
    * ``repeat_buyers``: members with more than one purchase in the window;
    * ``purchases`` and ``revenue`` in the window;
    * ``lifetime_days``: summed over the buyers, the days from their first purchase in
      the program (ever) to their last one in the window;
    * ``single_product_buyers`` / ``multi_product_buyers``: buyers of exactly one /
      more than one distinct product in the window."""
    if not windows:
        return []
    (end,) = {w.end_at for w in windows}
    params = {
        **scope_params(),
        "rejected": PurchaseStatus.REJECTED,
        "end": end,
        "start_first": min(w.start_at for w in windows),
    }
    for k, window in enumerate(windows, start=1):
        params[f"start_{k}"], params[f"before_{k}"] = window.start_at, window.before_at
    rows = []
    for k, program, tier, partner, *counts in _fetch(_window_sql(len(windows)), params):
        row = dict(zip(WINDOW_FIELDS, counts, strict=True))
        row["revenue"] = Decimal(row["revenue"])
        row["lifetime_days"] = Decimal(row["lifetime_days"])
        row["purchases"] = int(row["purchases"])
        rows.append(
            {"span": windows[k - 1], "program": program, "tier": tier, "partner": partner, **row}
        )
    return rows
