"""Who bought in a span, and how: the inputs of the retention and churn rates, the
repurchase rate, the upsell ratio and the historical customer lifetime value.

A purchase counts unless it was rejected; its revenue is its amount net of refunds, in
the program's currency (a program takes purchases in its own currency only). A product
is a line's SKU, or its category where the SKU is empty; a line returned in full and a
line with neither does not count."""

from decimal import Decimal

from django.conf import settings
from django.db import connection

from programs.models import Purchase, PurchaseLine, PurchaseStatus
from surveys.figures.retention import RETENTION_FIELDS
from surveys.figures.scope import EVERY_SCOPE, MEMBER_GROUPS
from surveys.figures.spans import Span

PURCHASES = Purchase._meta.db_table
LINES = PurchaseLine._meta.db_table

WINDOW_FIELDS = (
    *RETENTION_FIELDS,
    "repeat_buyers",
    "purchases",
    "revenue",
    "lifetime_days",
    "single_product_buyers",
    "multi_product_buyers",
)


def _window_sql(count: int) -> str:
    """Windows that all end at ``%(end)s``: one pass over the purchases per member, with
    the figures of window k (k = 1..count) in columns ``*_k``, then one row per program,
    tier and partner with every window's sums side by side. Revenue is summed in the
    currency's smallest unit, as a 64-bit integer: five decimal sums per member made the
    member rows too big to group in memory (they spilled to disk)."""
    per_window = ",\n        ".join(
        f"count(*) FILTER (WHERE p.occurred_at >= %(start_{k})s) AS n_{k}, "
        f"count(*) FILTER (WHERE p.occurred_at >= %(before_{k})s "
        f"AND p.occurred_at < %(start_{k})s) AS b_{k}, "
        f"sum(((p.amount - p.refunded_amount) * %(unit)s)::bigint) "
        f"FILTER (WHERE p.occurred_at >= %(start_{k})s) AS r_{k}"
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
    # Sums over the members of a group, straight from the member rows: no row per member
    # and window (half a million on the bench), and members without a purchase in or
    # before a window add nothing to its sums. Grouped by the member's partners first,
    # then counted for all members and for each partner (``MEMBER_GROUPS``).
    sums = [
        figure
        for k in range(1, count + 1)
        for figure in (
            (f"count(*) FILTER (WHERE pm.n_{k} > 0)", "sum"),
            (f"count(*) FILTER (WHERE pm.b_{k} > 0)", "sum"),
            (f"count(*) FILTER (WHERE pm.n_{k} > 0 AND pm.b_{k} > 0)", "sum"),
            (f"count(*) FILTER (WHERE pm.n_{k} > 1)", "sum"),
            (f"sum(pm.n_{k})", "sum"),
            (f"sum(pm.r_{k})", "sum"),
            (
                f"sum(extract(epoch FROM pm.last_at - pm.first_at)) "
                f"FILTER (WHERE pm.last_at >= %(start_{k})s)",
                "days",
            ),
            (f"count(*) FILTER (WHERE pm.n_{k} > 0 AND pr.lo_{k} = pr.hi_{k})", "sum"),
            (f"count(*) FILTER (WHERE pm.n_{k} > 0 AND pr.lo_{k} <> pr.hi_{k})", "sum"),
        )
    ]
    inner = ",\n        ".join(f"{sql} AS s{i}" for i, (sql, _) in enumerate(sums))
    outer = ",\n    ".join(
        f"coalesce(round(sum(g.s{i}) / 86400, 6), 0)"
        if how == "days"
        else f"coalesce(sum(g.s{i}), 0)"
        for i, (_, how) in enumerate(sums)
    )
    return f"""
WITH {MEMBER_GROUPS},
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
group_sums AS (
    SELECT g.program_id, g.tier_id, g.partners,
        {inner}
    FROM per_member pm
    LEFT JOIN products pr ON pr.membership_id = pm.membership_id
    JOIN member_group g ON g.membership_id = pm.membership_id
    GROUP BY 1, 2, 3
)
SELECT g.program_id, g.tier_id, sc.partner_id,
    {outer}
FROM group_sums g
CROSS JOIN LATERAL {EVERY_SCOPE.format(partners="g.partners")}
GROUP BY 1, 2, 3
"""  # noqa: S608 - table names from the models; k are our own numbers


def _fetch(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


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
        "rejected": PurchaseStatus.REJECTED,
        "end": end,
        "start_first": min(w.start_at for w in windows),
        "unit": 10**settings.MONEY_DECIMAL_PLACES,
    }
    for k, window in enumerate(windows, start=1):
        params[f"start_{k}"], params[f"before_{k}"] = window.start_at, window.before_at
    rows = []
    width = len(WINDOW_FIELDS)
    for program, tier, partner, *sums in _fetch(_window_sql(len(windows)), params):
        for k, window in enumerate(windows):
            row = dict(zip(WINDOW_FIELDS, sums[k * width : (k + 1) * width], strict=True))
            if not (row["buyers"] or row["buyers_before"]):
                continue  # nobody in the group bought in the window or before it
            row["revenue"] = Decimal(row["revenue"]).scaleb(-settings.MONEY_DECIMAL_PLACES)
            row["lifetime_days"] = Decimal(row["lifetime_days"])
            row["purchases"] = int(row["purchases"])
            rows.append(
                {"span": window, "program": program, "tier": tier, "partner": partner, **row}
            )
    return rows
