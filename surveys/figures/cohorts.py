"""Repurchase cohorts: members by the month of their first purchase in the program, and
how many bought again within 30, 90, 180 and 365 days of it."""

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from programs.models import PurchaseStatus
from surveys.figures.buyers import PURCHASES
from surveys.figures.scope import EVERY_SCOPE, MEMBER_GROUPS

REPURCHASE_WINDOWS = (30, 90, 180, 365)

_WITHIN = ",\n        ".join(
    f"count(*) FILTER (WHERE f.next_at <= f.first_at + %(within_{days})s) AS within_{days}"
    for days in REPURCHASE_WINDOWS
)
_WITHIN_SUMS = ", ".join(f"sum(c.within_{days})" for days in REPURCHASE_WINDOWS)
# The first purchase is the earliest; the next one the earliest strictly after it.
_COHORTS_SQL = f"""
WITH {MEMBER_GROUPS},
live AS (
    SELECT membership_id, occurred_at FROM {PURCHASES} WHERE status <> %(rejected)s
),
first AS (
    SELECT membership_id, min(occurred_at) AS first_at FROM live GROUP BY membership_id
),
following AS (
    SELECT f.membership_id, f.first_at,
        min(l.occurred_at) FILTER (WHERE l.occurred_at > f.first_at) AS next_at
    FROM first f
    JOIN live l ON l.membership_id = f.membership_id
    GROUP BY f.membership_id, f.first_at
),
cohort AS (
    SELECT date_trunc('month', f.first_at AT TIME ZONE %(tz)s)::date AS month,
        g.program_id, g.tier_id, g.partners, count(*) AS customers,
        {_WITHIN}
    FROM following f
    JOIN member_group g ON g.membership_id = f.membership_id
    GROUP BY 1, 2, 3, 4
)
SELECT c.month, c.program_id, c.tier_id, sc.partner_id, sum(c.customers), {_WITHIN_SUMS}
FROM cohort c
CROSS JOIN LATERAL {EVERY_SCOPE.format(partners="c.partners")}
GROUP BY 1, 2, 3, 4
"""  # noqa: S608 - table names from the models


def cohort_counts() -> list[dict]:
    """Per cohort month, program, tier (now) and partner: ``customers`` and
    ``within_<days>`` for each repurchase window."""
    params = {
        "tz": timezone.get_current_timezone_name(),
        "rejected": PurchaseStatus.REJECTED,
        **{f"within_{days}": timedelta(days=days) for days in REPURCHASE_WINDOWS},
    }
    with connection.cursor() as cursor:
        cursor.execute(_COHORTS_SQL, params)
        found = cursor.fetchall()
    names = ["customers", *(f"within_{days}" for days in REPURCHASE_WINDOWS)]
    return [
        {
            "cohort": cohort,
            "program": program,
            "tier": tier,
            "partner": partner,
            **dict(zip(names, counts, strict=True)),
        }
        for cohort, program, tier, partner, *counts in found
    ]
