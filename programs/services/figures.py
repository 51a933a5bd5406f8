"""The writer of the fitted customer-value figures in ``MembershipFigures``.

``surveys`` fits them (BG/NBD and Gamma-Gamma per program, nightly) and calls
``figures_value_write``: two statements for all of a program's memberships, touching
``probability_alive``, ``expected_purchases``, ``predicted_clv``, ``clv_horizon_months``
and ``clv_computed_at`` only, in the caller's transaction. The engagement columns are
written by the engagement recompute, in the statement that writes its score history
(``surveys.engagement.score_rows``), which makes this writer wait while it writes, so
the two never collide on a new membership's row. Each touches its own columns only.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection

from programs.models import Membership, MembershipFigures

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
