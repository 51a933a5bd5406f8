"""The writers of ``MembershipFigures``: what the metrics computed about each membership.

``surveys`` computes the figures and calls these; each writer is a fixed number of
statements for all memberships at once, and touches only its own group of columns, so
the nightly engagement recompute never wipes the fitted CLV figures and the nightly fit
never wipes the engagement figures:

* engagement: ``engagement_score``, ``churn_risk``, ``engagement_computed_at``;
* customer value (BG/NBD and Gamma-Gamma): ``probability_alive``, ``expected_purchases``,
  ``predicted_clv``, ``clv_horizon_months``, ``clv_computed_at``.

Both write in the caller's transaction (the engagement recompute writes its scores and
these figures in one).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection

from programs.models import Membership, MembershipFigures

ENGAGEMENT_COLUMNS = ("engagement_score", "churn_risk", "engagement_computed_at")
VALUE_COLUMNS = (
    "probability_alive",
    "expected_purchases",
    "predicted_clv",
    "clv_horizon_months",
    "clv_computed_at",
)


def _upsert(columns: tuple[str, ...], source: str) -> str:
    """INSERT the rows of ``source`` (membership_id, then ``columns``); on a membership
    that has figures already, overwrite ``columns`` only."""
    table = MembershipFigures._meta.db_table
    names = ", ".join(columns)
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns)
    return (
        f"INSERT INTO {table} (membership_id, {names}) "  # noqa: S608 - our table and column names
        f"SELECT membership_id, {names} FROM ({source}) AS figures ORDER BY membership_id "
        f"ON CONFLICT (membership_id) DO UPDATE SET {updates}"
    )


def figures_engagement_write(*, source: str, params: Sequence | dict = ()) -> int:
    """Copy engagement figures into ``MembershipFigures``, one statement.

    ``source`` is a SELECT (with ``params``) giving the columns ``membership_id``,
    ``engagement_score``, ``churn_risk`` and ``engagement_computed_at``: the engagement
    recompute passes its freshly written score rows. Returns the number of rows written."""
    with connection.cursor() as cursor:
        cursor.execute(_upsert(ENGAGEMENT_COLUMNS, source), params)
        return cursor.rowcount


@dataclass(frozen=True)
class MemberValue:
    """The fitted figures of one membership (rounded to the columns' decimal places)."""

    membership_id: int
    probability_alive: Decimal
    expected_purchases: Decimal
    predicted_clv: Decimal


def figures_value_write(
    *,
    program_id: int,
    values: Sequence[MemberValue],
    horizon_months: int,
    computed_at: datetime,
) -> int:
    """Write one program's fitted figures, two statements whatever the number of members.

    The memberships in ``values`` get their figures, ``horizon_months`` and
    ``computed_at``; every other membership of the program (no purchase to predict from)
    has its customer-value columns set back to NULL, "not computed". Engagement columns
    are left as they are. Returns the number of memberships given figures."""
    ids = [v.membership_id for v in values]
    source = (
        "SELECT membership_id, probability_alive, expected_purchases, predicted_clv, "
        "CAST(%s AS SMALLINT) AS clv_horizon_months, "
        "CAST(%s AS TIMESTAMPTZ) AS clv_computed_at "
        "FROM unnest(CAST(%s AS BIGINT[]), CAST(%s AS NUMERIC[]), CAST(%s AS NUMERIC[]), "
        "CAST(%s AS NUMERIC[])) "
        "AS v(membership_id, probability_alive, expected_purchases, predicted_clv)"
    )
    params = [
        horizon_months,
        computed_at,
        ids,
        [v.probability_alive for v in values],
        [v.expected_purchases for v in values],
        [v.predicted_clv for v in values],
    ]
    table = MembershipFigures._meta.db_table
    memberships = Membership._meta.db_table
    cleared = ", ".join(f"{name} = NULL" for name in VALUE_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(_upsert(VALUE_COLUMNS, source), params)
        written = cursor.rowcount
        cursor.execute(
            f"UPDATE {table} f SET {cleared} "  # noqa: S608 - our table and column names
            f"FROM {memberships} m WHERE m.id = f.membership_id AND m.program_id = %s "
            "AND f.clv_computed_at IS NOT NULL "
            "AND NOT (f.membership_id = ANY(CAST(%s AS BIGINT[])))",
            [program_id, ids],
        )
    return written
