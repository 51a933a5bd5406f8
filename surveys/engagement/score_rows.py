"""The PostgreSQL side of the engagement recompute: how the computed scores are written.

The scores are computed into a temporary table first (``surveys.engagement.scores``:
only a statement that does not write gets a parallel plan, and the aggregates over the
purchases are the bulk of the work). One statement then writes everything from it into
the memberships' figures (``programs.models.MembershipFigures``, where the partner API
and segments read the score), engagement columns only:

- an UPDATE of every existing figures row. No index covers a column it changes, so the
  new row version stays on its page (a HOT update: no index entries, and the table's
  fill factor of 45 leaves the room, programs migration 0021). The churn flag and the
  new window of recent scores are computed in that UPDATE from the row's old window;
- an INSERT of the rows of memberships without figures yet;
- today's history rows, from what those two return: a plain INSERT on a new day, an
  upsert that skips unchanged values when some rows were written today already.

``engagement_window`` holds the daily scores of the churn-drop window in hundredths of a
point, newest first, ``churn_drop_days + 1`` of them, the first one of
``engagement_window_day``; NULL for a day without a recompute. Reading the window from
the history instead means reading ``churn_drop_days`` history rows per membership every
night (3,000,000 for 100,000 members, longer than all the rest of the recompute). With
``gap`` = today - ``engagement_window_day`` (0 on a rerun the same day), elements
``max(1, 2 - gap) .. days + 1 - gap`` are the days of today's window, and the new window
is today's score, ``gap - 1`` unknown days, then those elements.

The history stays the truth: when a cached window is missing (scores from before the
cache), has another length (staff changed the drop window) or is from a later
day (a recompute for an earlier moment), every window is first rebuilt from the history.
After a recompute for an earlier moment, the next recompute does not see the history
rows of the days between that moment and the last one before it; only tests and manual
runs pass a moment (the nightly task and the admin's button use the current time).
"""

from datetime import date, timedelta

from programs.models import MembershipFigures
from surveys.engagement.models import EngagementScoreDay, EngagementWeights

FIGURES = MembershipFigures._meta.db_table
SCRATCH = "engagement_scored"  # the temporary table of a PostgreSQL recompute

NIGHTLY, RERUN, REBUILD = "nightly", "rerun", "rebuild"


def window_mode(cursor, *, today: date, weights: EngagementWeights) -> str:
    """``nightly`` (every cached window is usable and no row was written today),
    ``rerun`` (some rows were written today already) or ``rebuild`` (some cached window
    is not usable)."""
    cursor.execute(
        f"""SELECT COALESCE(bool_or(engagement_window IS NULL
                                    OR cardinality(engagement_window) <> %s
                                    OR engagement_window_day > %s), FALSE),
                   COALESCE(bool_or(engagement_window_day = %s), FALSE)
            FROM {FIGURES} WHERE engagement_computed_at IS NOT NULL""",  # noqa: S608 - our table name only
        [weights.churn_drop_days + 1, today, today],
    )
    stale, rerun = cursor.fetchone()
    return REBUILD if stale else RERUN if rerun else NIGHTLY


def rebuild_statement(*, today: date, weights: EngagementWeights) -> tuple[str, list]:
    """Every score row's window as of yesterday, from the history: element k is the
    score of the day today - k."""
    history = EngagementScoreDay._meta.db_table
    length = weights.churn_drop_days + 1
    return (
        f"""
        WITH history_days AS MATERIALIZED (
            SELECT membership_id AS mid, %s - day AS k, CAST(score * 100 AS SMALLINT) AS v
            FROM {history} WHERE day >= %s AND day < %s),
        windows AS MATERIALIZED (
            SELECT ids.mid, array_agg(h.v ORDER BY g.k) AS scores
            FROM (SELECT DISTINCT mid FROM history_days) ids
            CROSS JOIN generate_series(1, {length}) g(k)
            LEFT JOIN history_days h ON h.mid = ids.mid AND h.k = g.k
            GROUP BY ids.mid)
        UPDATE {FIGURES} e
        SET engagement_window = COALESCE(w.scores, array_fill(NULL::SMALLINT, ARRAY[{length}])),
            engagement_window_day = %s
        FROM {FIGURES} s LEFT JOIN windows w ON w.mid = s.membership_id
        WHERE e.membership_id = s.membership_id""",  # noqa: S608 - interpolates only our table names and numbers
        [today, today - timedelta(days=length), today, today - timedelta(days=1)],
    )


def lock_statement() -> tuple[str, list]:
    """Keeps every other writer of the figures (the nightly customer-value fit) out until
    the recompute commits, so that the rows the write statement finds missing are still
    missing when it inserts them. Taken after the scores are computed and before the
    first write to the figures (a rebuild's, then the write statement's): the fit waits
    seconds, not the whole recompute, and never holds a row the recompute waits for."""
    return f"LOCK TABLE {FIGURES} IN SHARE ROW EXCLUSIVE MODE", []


def write_statement(
    *, today: date, at, weights: EngagementWeights, components: tuple[str, ...], mode: str
) -> tuple[str, list]:
    """The one statement that writes the scores and today's history from the scratch
    table (columns mid, score and the components)."""
    history = EngagementScoreDay._meta.db_table
    length = weights.churn_drop_days + 1
    # A row without a window (figures written before the membership's first score) has
    # every day of it unknown.
    gap = f"COALESCE(CAST(%(today)s AS DATE) - e.engagement_window_day, {length})"
    window = f"e.engagement_window[GREATEST(1, 2 - {gap}) : {length} - {gap}]"
    fill = length - 1  # at most: all days but today unknown
    centi = "CAST(t.score * 100 AS SMALLINT)"
    threshold = int(weights.churn_threshold * 100)
    # At least churn_drop points below the best of the window: some day of the window
    # scored at least score + churn_drop (all in hundredths, exact).
    dropped = f"CAST(t.score * 100 AS INTEGER) + {int(weights.churn_drop * 100)}"
    churn_now = f"CAST(t.score * 100 AS INTEGER) < {threshold}"
    values = ", ".join(f"engagement_{name} = t.{name}" for name in components)
    names = ", ".join(f"engagement_{name}" for name in components)
    record = f"""
        INSERT INTO {history} (membership_id, day, score, churn_risk)
        SELECT membership_id, %(today)s, engagement_score, churn_risk
        FROM (SELECT * FROM updated UNION ALL SELECT * FROM inserted) written
        ORDER BY membership_id"""  # noqa: S608 - interpolates only our table names
    if mode != NIGHTLY:
        record += f"""
        ON CONFLICT (membership_id, day) DO UPDATE
            SET score = excluded.score, churn_risk = excluded.churn_risk
            WHERE ({history}.score, {history}.churn_risk)
                  IS DISTINCT FROM (excluded.score, excluded.churn_risk)"""  # noqa: S608 - interpolates only our table names
    statement = f"""
        WITH updated AS (
            UPDATE {FIGURES} e
            SET engagement_score = t.score, {values}, engagement_computed_at = %(at)s,
                churn_risk = ({churn_now} OR COALESCE({dropped} <= ANY({window}), FALSE)),
                engagement_window = ARRAY[{centi}]
                    || array_fill(NULL::SMALLINT, ARRAY[LEAST(GREATEST({gap} - 1, 0), {fill})])
                    || {window},
                engagement_window_day = %(today)s
            FROM {SCRATCH} t
            WHERE e.membership_id = t.mid
            RETURNING e.membership_id, e.engagement_score, e.churn_risk),
        inserted AS (
            INSERT INTO {FIGURES}
                (membership_id, engagement_score, {names}, engagement_computed_at, churn_risk,
                 engagement_window, engagement_window_day)
            SELECT t.mid, t.score, {", ".join(f"t.{name}" for name in components)},
                   %(at)s, {churn_now},
                   (ARRAY[{centi}] || array_fill(NULL::SMALLINT, ARRAY[{length}]))[1:{length}],
                   %(today)s
            FROM {SCRATCH} t
            WHERE NOT EXISTS (SELECT FROM {FIGURES} e WHERE e.membership_id = t.mid)
            ORDER BY t.mid
            RETURNING membership_id, engagement_score, churn_risk)
        {record}"""  # noqa: S608 - interpolates only our table names and numbers
    return statement, {"today": today, "at": at}
