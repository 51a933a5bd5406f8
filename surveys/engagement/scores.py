"""Engagement score, 0-100 per membership, recomputed set-based for every membership.

Formula (weights and constants are edited by staff in ``EngagementWeights``)::

    decay(t)  = 0.5 ** (age_days(t) / half_life_days)        # 1 today, 0.5 one half-life ago
    sat(x, k) = x / (x + k)                                   # 0 at x=0, 0.5 at x=k, -> 1

    recency     = decay(membership.last_activity_at)          # 0 if never active
    frequency   = sat(sum of decay(p.occurred_at) over awarded purchases, frequency_scale)
    monetary    = sat(sum of (amount - refunded) * decay(p.occurred_at), monetary_scale)
    portal      = sat(sum of count * decay(day) over the customer's portal visits and
                      logins (PortalActivityDay), portal_scale)
    surveys     = sat(sum of decay(submitted_at) over the membership's answered survey
                      responses, surveys_scale)      # a declined (dismissed) one counts 0
    referrals   = sat(sum of decay(rewarded_at) over referrals rewarded to the member as
                      referrer, referrals_scale)
    redemptions = sat(sum of decay(created_at) over redemptions not cancelled,
                      redemptions_scale)

    score = 100 * sum(w_i * component_i) / sum(w_i), rounded to 2 decimals

Default weights: recency 25, frequency 20, monetary 20, portal 10, surveys 5,
referrals 10, redemptions 10; half-life 90 days. Survey participation is read from the
surveys' ``Response`` (membership, submitted_at) with status ``answered``: a member who
declines an invitation has not engaged, so a dismissed response adds nothing.

A customer's score is the best of their memberships' scores
(``surveys.engagement.selectors.customer_engagement``).

Churn risk: the score is below ``churn_threshold``, or it is at least ``churn_drop``
points below the best daily score of the previous ``churn_drop_days`` days (the days
before today; a rerun on the same day replaces today's score, it is not compared with it).

History: one ``EngagementScoreDay`` row per membership and day, so a second recompute on
the same day replaces that day's value. Every day is written, not only days on which the
score changed: the decay moves almost every score every day (99.9 % of 100,000 seeded
members from one day to the next), so carrying values forward would save nothing.

One recompute runs at a time (it locks the weights row). It is a fixed number of
statements, whatever the number of customers: the components come from grouped
aggregates joined to the memberships. The scores are computed into a temporary table,
because only a statement that does not write gets a parallel plan, and one statement
writes the scores, the churn flags and the day's history from it. The scores, their
components and the cached churn-drop window live in the per-membership figures the
engine reads (``programs.models.MembershipFigures``), so each membership's row is written
once (``surveys.engagement.score_rows``).
"""

import math
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from programs.models import (
    Membership,
    Purchase,
    PurchaseStatus,
    Redemption,
    RedemptionStatus,
    Referral,
    ReferralStatus,
)
from surveys.engagement import score_rows
from surveys.engagement.models import EngagementWeights, PortalActivityDay
from surveys.models import Response, ResponseStatus

COMPONENTS = (
    "recency",
    "frequency",
    "monetary",
    "portal",
    "surveys",
    "referrals",
    "redemptions",
)


def engagement_weights() -> EngagementWeights:
    weights, _ = EngagementWeights.objects.get_or_create(pk=EngagementWeights.SINGLETON_ID)
    return weights


def _num(value) -> str:
    """A number as an SQL literal (weights and constants are numbers we hold, never text)."""
    return repr(float(value))


class _Sql:
    """Days since a timestamp column, and their decay, as of a fixed moment."""

    def __init__(self, now: datetime, half_life_days: int):
        self.epoch = now.timestamp()
        self.rate = math.log(2) / half_life_days
        # Compute each aggregate once (a plain CTE may be inlined and then re-run by every
        # parallel worker).
        self.materialized = "MATERIALIZED"

    def age_days(self, column: str) -> str:
        # date_part gives double precision (EXTRACT gives numeric since PostgreSQL 14, and
        # EXP over numeric is a hundred times slower)
        return f"(({_num(self.epoch)} - date_part('epoch', {column})) / 86400.0)"

    def decay(self, column: str) -> str:
        # Ages in the future count as 0. GREATEST computes the age once per row; a CASE
        # WHEN age < 0 ... ELSE age computes it twice.
        return f"EXP(-{_num(self.rate)} * GREATEST({self.age_days(column)}, 0))"


def _sat(value: str, scale) -> str:
    return f"(COALESCE({value}, 0) / (COALESCE({value}, 0) + {_num(scale)}))"


# Compiling the big statement (JIT) costs more than it saves, and the hash joins over a
# million rows want memory rather than temporary files. The commit need not wait for its
# WAL flush: the scores are derived data, and a crash right after the commit loses at most
# this run, which the next one (or a rerun) repeats.
RECOMPUTE_SETTINGS = (
    "SET LOCAL jit = off; SET LOCAL work_mem = '256MB'; SET LOCAL synchronous_commit = off"
)


def engagement_recompute(now: datetime | None = None) -> int:
    """Recompute every membership's score and today's history row. Returns the number
    of memberships scored."""
    now = now or timezone.now()
    outermost = not connection.in_atomic_block
    with transaction.atomic(), connection.cursor() as cursor:
        if outermost:  # SET LOCAL ends with this transaction; never with a caller's
            cursor.execute(RECOMPUTE_SETTINGS)
        # One recompute at a time (the nightly task and the admin's button): the second
        # waits here and then starts from what the first wrote.
        weights, _ = EngagementWeights.objects.select_for_update().get_or_create(
            pk=EngagementWeights.SINGLETON_ID
        )
        mode = score_rows.window_mode(cursor, today=timezone.localdate(now), weights=weights)
        (compute, params), *writes = recompute_statements(now, weights=weights, mode=mode)
        cursor.execute(compute, params)
        scored = cursor.rowcount
        for statement, params in writes:
            cursor.execute(statement, params)
        return scored


def recompute_statements(
    now: datetime, *, weights: EngagementWeights | None = None, mode: str = score_rows.REBUILD
) -> list:
    """The statements of a recompute with their parameters.

    The scores and their components are computed into a temporary table (a parallel
    plan; its row count is the number of memberships scored); then the figures are
    locked against other writers; when ``mode`` is ``rebuild`` the cached churn-drop
    windows are rebuilt from the history; then one statement writes the scores, the churn
    flags and today's history from the table (``surveys.engagement.score_rows``); then the
    table is dropped."""
    w = weights or engagement_weights()
    sql = _Sql(now, w.half_life_days)
    weights = {name: float(getattr(w, name)) for name in COMPONENTS}
    total = sum(weights.values()) or 1.0

    purchase = Purchase._meta.db_table
    referral = Referral._meta.db_table
    redemption = Redemption._meta.db_table
    portal = PortalActivityDay._meta.db_table
    membership = Membership._meta.db_table

    ctes = [
        # A shared account's purchase counts for the account (its holder) and for the
        # member who made it (placed_by): the score works per account and per person.
        f"""purchases AS {sql.materialized} (
            SELECT mid, SUM(w) AS f, SUM(net * w) AS m
            FROM (SELECT membership_id AS mid,
                         CAST(amount - refunded_amount AS DOUBLE PRECISION) AS net,
                         {sql.decay("occurred_at")} AS w
                  FROM {purchase} WHERE status = %s
                  UNION ALL
                  SELECT placed_by_id,
                         CAST(amount - refunded_amount AS DOUBLE PRECISION),
                         {sql.decay("occurred_at")}
                  FROM {purchase} WHERE status = %s AND placed_by_id IS NOT NULL) awarded
            GROUP BY mid)""",  # noqa: S608 - interpolates only our table names and numbers
        f"""portal AS {sql.materialized} (
            SELECT customer_id AS cid, SUM(count * {sql.decay("day")}) AS a
            FROM {portal} GROUP BY customer_id)""",  # noqa: S608 - interpolates only our table names and numbers
        f"""referrals AS {sql.materialized} (
            SELECT referrer_id AS mid, SUM({sql.decay("rewarded_at")}) AS r
            FROM {referral} WHERE status = %s AND rewarded_at IS NOT NULL
            GROUP BY referrer_id)""",  # noqa: S608 - interpolates only our table names and numbers
        f"""redemptions AS {sql.materialized} (
            SELECT mid, SUM({sql.decay("created_at")}) AS d
            FROM (SELECT membership_id AS mid, created_at FROM {redemption} WHERE status <> %s
                  UNION ALL
                  SELECT placed_by_id, created_at FROM {redemption}
                  WHERE status <> %s AND placed_by_id IS NOT NULL) redeemed
            GROUP BY mid)""",  # noqa: S608 - interpolates only our table names and numbers
    ]
    today = timezone.localdate(now)
    params: list = [
        PurchaseStatus.AWARDED.value,
        PurchaseStatus.AWARDED.value,
        ReferralStatus.REWARDED.value,
        RedemptionStatus.CANCELLED.value,
        RedemptionStatus.CANCELLED.value,
        ResponseStatus.ANSWERED.value,
    ]
    responses = Response._meta
    table = responses.db_table
    member_column = responses.get_field("membership").column
    time_column = responses.get_field("submitted_at").column
    status_column = responses.get_field("status").column
    ctes.append(
        f"""surveys AS {sql.materialized} (
        SELECT {member_column} AS mid, SUM({sql.decay(time_column)}) AS s
        FROM {table} WHERE {member_column} IS NOT NULL AND {status_column} = %s
        GROUP BY {member_column})"""  # noqa: S608 - interpolates only our table names and numbers
    )
    survey_join, survey_value = "LEFT JOIN surveys sv ON sv.mid = m.id", "sv.s"
    ctes.append(
        f"""components AS (
            SELECT m.id AS mid,
                   CASE WHEN m.last_activity_at IS NULL THEN 0.0
                        ELSE {sql.decay("m.last_activity_at")} END AS recency,
                   {_sat("pu.f", w.frequency_scale)} AS frequency,
                   {_sat("pu.m", w.monetary_scale)} AS monetary,
                   {_sat("po.a", w.portal_scale)} AS portal,
                   {_sat(survey_value, w.surveys_scale)} AS surveys,
                   {_sat("rf.r", w.referrals_scale)} AS referrals,
                   {_sat("rd.d", w.redemptions_scale)} AS redemptions
            FROM {membership} m
            LEFT JOIN purchases pu ON pu.mid = m.id
            LEFT JOIN portal po ON po.cid = m.customer_id
            LEFT JOIN referrals rf ON rf.mid = m.id
            LEFT JOIN redemptions rd ON rd.mid = m.id
            {survey_join})"""  # noqa: S608 - interpolates only our table names and numbers
    )
    weighted = " + ".join(f"{_num(weights[name] / total)} * c.{name}" for name in COMPONENTS)
    ctes.append(
        f"""scored AS (
            SELECT c.*, ROUND(CAST(100 * ({weighted}) AS NUMERIC), 2) AS score
            FROM components c)"""  # noqa: S608 - interpolates only our table names and numbers
    )
    columns = ", ".join(COMPONENTS)
    at = connection.ops.adapt_datetimefield_value(now)
    compute = f"""
        CREATE TEMPORARY TABLE {score_rows.SCRATCH} ON COMMIT DROP AS
        WITH {", ".join(ctes)}
        SELECT mid, score, {columns} FROM scored"""  # noqa: S608 - interpolates only our table names
    # The lock comes before the first write to the figures: taken after the rebuild's
    # row locks, it could deadlock with a fit that started in between.
    statements = [(compute, params), score_rows.lock_statement()]
    if mode == score_rows.REBUILD:
        statements.append(score_rows.rebuild_statement(today=today, weights=w))
    statements.append(
        score_rows.write_statement(today=today, at=at, weights=w, components=COMPONENTS, mode=mode)
    )
    return [*statements, (f"DROP TABLE {score_rows.SCRATCH}", [])]
