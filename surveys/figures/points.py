"""Points moved per month and the members' stocks now, per program, tier and partner."""

from datetime import datetime, timedelta

from django.db import connection
from django.utils import timezone

from programs.models import EntryKind, LedgerEntry, MembershipFigures
from surveys.figures.scope import EVERY_SCOPE, MEMBER_GROUPS, MEMBERSHIPS, SCOPE_TABLE, scope_params
from surveys.metrics.formulas import ACTIVE_WITHIN_DAYS, DORMANT_AFTER_DAYS

ENTRIES = LedgerEntry._meta.db_table
FIGURES = MembershipFigures._meta.db_table

FLOW_FIELDS = ("points_issued", "points_redeemed", "points_expired")
ENGAGEMENT_BANDS = ((0, 20), (20, 40), (40, 60), (60, 80), (80, 101))
STOCK_FIELDS = (
    "members",
    "members_active",
    "members_at_risk",
    "members_dormant",
    "points_outstanding",
    "points_pending",
    *(f"engagement_{i}" for i in range(len(ENGAGEMENT_BANDS))),
)

# Every movement counts in the month it is effective (``effective_at``: a purchase's
# points and returns at the purchase's date, however late it was reported). Points paid
# at a till count as redeemed when captured, net of refunds of that payment.
_FLOWS_SQL = f"""
WITH {MEMBER_GROUPS},
flow AS (
    SELECT date_trunc('month', e.effective_at AT TIME ZONE %(tz)s)::date AS month,
        g.program_id, g.tier_id, g.partners,
        coalesce(sum(e.points + e.pending_points) FILTER (WHERE e.kind = %(earn)s), 0)
            + coalesce(sum(e.points) FILTER (WHERE e.kind = %(adjust)s AND e.points > 0), 0)
            AS issued,
        -coalesce(sum(e.points) FILTER (WHERE e.kind IN (%(redeem)s, %(redeem_cancel)s)), 0)
            - coalesce(sum(e.held_points) FILTER (WHERE e.kind = %(capture)s), 0)
            - coalesce(sum(e.points) FILTER (WHERE e.kind = %(capture_refund)s), 0)
            AS redeemed,
        -coalesce(sum(e.points) FILTER (WHERE e.kind = %(expire)s), 0) AS expired
    FROM {ENTRIES} e
    JOIN member_group g ON g.membership_id = e.membership_id
    WHERE e.effective_at >= %(start)s
    GROUP BY 1, 2, 3, 4
)
SELECT f.month, f.program_id, f.tier_id, sc.partner_id,
    sum(f.issued), sum(f.redeemed), sum(f.expired)
FROM flow f
CROSS JOIN LATERAL {EVERY_SCOPE.format(partners="f.partners")}
GROUP BY 1, 2, 3, 4
"""  # noqa: S608 - table names from the models

_BANDS = ",\n    ".join(
    f"count(*) FILTER (WHERE fi.engagement_score >= {low} AND fi.engagement_score < {high})"
    for low, high in ENGAGEMENT_BANDS
)
_STOCKS_SQL = f"""
WITH {SCOPE_TABLE}
SELECT m.program_id, m.tier_id, sc.partner_id,
    count(*),
    count(*) FILTER (WHERE m.last_activity_at >= %(active_since)s),
    count(*) FILTER (
        WHERE m.last_activity_at < %(active_since)s AND m.last_activity_at >= %(dormant_before)s
    ),
    count(*) FILTER (
        WHERE m.last_activity_at < %(dormant_before)s OR m.last_activity_at IS NULL
    ),
    coalesce(sum(m.balance + m.held), 0),  -- held for a till payment: still owed
    coalesce(sum(m.pending), 0),
    {_BANDS}
FROM {MEMBERSHIPS} m
JOIN scope sc ON sc.membership_id = m.id
LEFT JOIN {FIGURES} fi ON fi.membership_id = m.id
GROUP BY 1, 2, 3
"""  # noqa: S608 - table names from the models


def point_flows(*, since: datetime) -> list[dict]:
    """Per month (from ``since``), program, tier and partner: points issued (earned,
    available or still pending, and positive staff adjustments), redeemed (net of
    cancelled redemptions) and expired, each as a positive number."""
    params = {
        **scope_params(),
        "tz": timezone.get_current_timezone_name(),
        "start": since,
        "earn": EntryKind.EARN,
        "adjust": EntryKind.ADJUST,
        "redeem": EntryKind.REDEEM,
        "redeem_cancel": EntryKind.REDEEM_CANCEL,
        "capture": EntryKind.CAPTURE,
        "capture_refund": EntryKind.CAPTURE_REFUND,
        "expire": EntryKind.EXPIRE,
    }
    with connection.cursor() as cursor:
        cursor.execute(_FLOWS_SQL, params)
        found = cursor.fetchall()
    return [
        {
            "month": month,
            "program": program,
            "tier": tier,
            "partner": partner,
            **dict(zip(FLOW_FIELDS, sums, strict=True)),
        }
        for month, program, tier, partner, *sums in found
    ]


def member_stocks(*, now: datetime) -> list[dict]:
    """Per program, tier (now) and partner: members, activity bands (active within 90
    days, at risk, dormant after 180 days or never active), available points (the
    balance; a member's debt is not netted against others' points), pending points, and
    members per engagement band."""
    params = {
        **scope_params(),
        "active_since": now - timedelta(days=ACTIVE_WITHIN_DAYS),
        "dormant_before": now - timedelta(days=DORMANT_AFTER_DAYS),
    }
    with connection.cursor() as cursor:
        cursor.execute(_STOCKS_SQL, params)
        found = cursor.fetchall()
    return [
        {
            "program": program,
            "tier": tier,
            "partner": partner,
            **dict(zip(STOCK_FIELDS, counts, strict=True)),
        }
        for program, tier, partner, *counts in found
    ]
