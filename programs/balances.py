"""A member's balances for the partner API in one query (#21); see
``partner_member_balances``."""

import json
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cache

from django.db import connection, connections, router
from django.db.models import Model
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from loyalty_site.core.prepared import prepared_rows
from programs.models import (
    EntryKind,
    LedgerEntry,
    Membership,
    Partner,
    PartnerCustomer,
    PointLot,
    Program,
    Purchase,
    PurchaseStatus,
    Tier,
    TierKind,
    TierMetric,
    TierSubscription,
    TierWindow,
)
from programs.selectors import MembershipBalance, TierProgress
from programs.services.tier_figures import qualification_window


def partner_member_balances(
    *,
    partner: Partner,
    external_id: str,
    program_slug: str | None = None,
    expiring_within_days: int = 90,
    now: datetime | None = None,
) -> list[MembershipBalance]:
    """``membership_balance`` of each membership ``partner`` may see of its member
    ``external_id`` (only the one in ``program_slug`` if given), by program slug, in ONE
    query. The balance read is the API's hottest path and must stay fast while the workers
    keep the database busy (#21): ``membership_balance`` costs three queries per program on
    top of the memberships. Here the link, the memberships with program and tiers, and per
    membership the expiring points, the qualifying value and the next qualified tier are
    correlated subqueries of one statement (so they also read one snapshot). The figures
    follow ``membership_balance`` and ``tier_figures`` exactly (compared in
    tests/api/test_hot_paths.py).

    The statement is written in SQL (``_balance_sql``), not built with the ORM: building
    and compiling the same query with the ORM took 8 ms of CPU per read, more than the
    rest of the request (docs/benchmarks.md, "The one spine against 8787e90, a third
    day").
    Empty if the member is unknown or has no membership (in ``program_slug``): the caller
    tells these apart."""
    now = now or timezone.now()
    params = {
        "partner": partner.pk,
        "external_id": external_id,
        "slug": program_slug,
        "now": now,
        "horizon": now + timedelta(days=expiring_within_days),
        **{
            f"start_{rule}": qualification_window(Program(tier_window=rule), now)[0]
            for rule in TierWindow.values
        },
    }
    # A read that may lag: the replica's when the request may read it (the router decides,
    # as for the ORM's reads; loyalty_site/core/db_router.py). Planned once per connection:
    # planning took longer than the run (loyalty_site/core/prepared.py).
    db = connections[router.db_for_read(Membership)]
    rows = prepared_rows(db, _balance_sql(by_slug=bool(program_slug)), params)
    return [_balance_of_row(row, now, expiring_within_days) for row in rows]


ROW_MODELS = (Membership, Program, Tier, Tier)  # the membership, its program, tier, qualified
NEXT_TIER_FIELDS = ("id", "program_id", "name", "rank", "threshold")


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _columns(model: type[Model], alias: str) -> str:
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


@cache
def _balance_sql(*, by_slug: bool) -> str:
    """The statement, with named parameters (``partner_member_balances``). The
    qualification window starts by the program's rule, from ``qualification_window``
    itself, so the two cannot differ; the qualifying value is the net spend of awarded
    purchases (no tier fees) or the points earned net of returns (not below zero) in the
    window; the next tier is the lowest qualified tier above the highest qualified tier
    reached (none reached: the lowest), its threshold as text so it stays an exact
    decimal; the expiring points are summed per date, soonest first."""
    window_start = "CASE p.tier_window {} END".format(
        " ".join(f"WHEN '{rule}' THEN %(start_{rule})s" for rule in TierWindow.values)
    )
    reached = (
        f"greatest(CASE WHEN t.kind = '{TierKind.QUALIFIED}' THEN t.rank END, "
        f"CASE WHEN q.kind = '{TierKind.QUALIFIED}' THEN q.rank END)"
    )
    earning = f"'{EntryKind.EARN}', '{EntryKind.REVERSE}'"
    slug = "AND p.slug = %(slug)s" if by_slug else ""
    return f"""
SELECT {_columns(Membership, "m")}, {_columns(Program, "p")},
    {_columns(Tier, "t")}, {_columns(Tier, "q")},
    CASE WHEN p.tier_metric = '{TierMetric.POINTS}' THEN greatest(coalesce((
        SELECT coalesce(sum(e.points), 0) + coalesce(sum(e.pending_points), 0)
        FROM {_table(LedgerEntry)} e
        WHERE e.membership_id = m.id AND e.kind IN ({earning})
            AND e.effective_at >= {window_start} AND e.effective_at <= %(now)s
    ), 0), 0)
    ELSE coalesce((
        SELECT sum(u.amount) - sum(u.refunded_amount)
        FROM {_table(Purchase)} u
        WHERE u.membership_id = m.id AND u.status = '{PurchaseStatus.AWARDED}'
            AND u.occurred_at >= {window_start} AND u.occurred_at <= %(now)s
            AND NOT EXISTS (
                SELECT FROM {_table(TierSubscription)} s WHERE s.purchase_id = u.id
            )
    ), 0) END,
    (
        SELECT jsonb_build_object('id', n.id, 'program_id', n.program_id, 'name', n.name,
            'rank', n.rank, 'threshold', n.threshold::text)
        FROM {_table(Tier)} n
        WHERE n.program_id = m.program_id AND n.kind = '{TierKind.QUALIFIED}'
            AND n.rank > coalesce({reached}, -1)
        ORDER BY n.rank LIMIT 1
    ),
    ARRAY(
        SELECT jsonb_build_object('expires_at', l.expires_at, 'points', sum(l.remaining))
        FROM {_table(PointLot)} l
        WHERE l.membership_id = m.id AND l.released_at IS NOT NULL
            AND l.expired_at IS NULL AND l.remaining > 0
            AND l.expires_at IS NOT NULL AND l.expires_at <= %(horizon)s
        GROUP BY l.expires_at ORDER BY l.expires_at
    )
FROM {_table(Membership)} m
JOIN {_table(Program)} p ON p.id = m.program_id
LEFT JOIN {_table(Tier)} t ON t.id = m.tier_id
LEFT JOIN {_table(Tier)} q ON q.id = m.qualified_tier_id
WHERE m.customer_id IN (
        SELECT c.customer_id FROM {_table(PartnerCustomer)} c
        WHERE c.partner_id = %(partner)s AND c.external_id = %(external_id)s
    )
    AND m.program_id IN (
        SELECT x.program_id FROM {_table(Partner.programs.through)} x
        WHERE x.partner_id = %(partner)s
    )
    {slug}
ORDER BY p.slug
"""  # noqa: S608 - table names from the models, values from our own enums


def _json(value):
    """jsonb as Django's cursor returns it: text (the ORM's JSONField parses it)."""
    return json.loads(value) if isinstance(value, str) else value


def _instances(row: tuple) -> list[Model | None]:
    """The row's membership, program, tier and qualified tier, as the ORM loads them."""
    instances, at = [], 0
    for model in ROW_MODELS:
        names = [field.attname for field in model._meta.concrete_fields]
        values = row[at : at + len(names)]
        at += len(names)
        instances.append(
            None if values[0] is None else model.from_db(connection.alias, names, values)
        )
    return instances


def _balance_of_row(row: tuple, now: datetime, expiring_within_days: int) -> MembershipBalance:
    membership, program, tier, qualified_tier = _instances(row)
    membership.program, membership.tier, membership.qualified_tier = program, tier, qualified_tier
    value, upcoming_json, expiring_json = row[-3:]
    upcoming = None
    if upcoming_json is not None:
        fields = _json(upcoming_json)
        values = [fields[name] for name in NEXT_TIER_FIELDS[:-1]]
        # Only these fields are loaded; any other would be read from the database.
        upcoming = Tier.from_db(
            connection.alias, NEXT_TIER_FIELDS, [*values, Decimal(fields["threshold"])]
        )
    start, end = qualification_window(program, now)
    progress = TierProgress(
        metric=program.tier_metric,
        qualifying_value=value,
        window_start=start,
        window_end=end,
        next_tier=upcoming,
        gap=max(Decimal(0), upcoming.threshold - value) if upcoming else None,
        review_at=membership.tier_review_at,
    )
    expiring = [
        {"expires_at": parse_datetime(lot["expires_at"]), "points": lot["points"]}
        for lot in map(_json, expiring_json)
    ]
    return MembershipBalance(membership, expiring, expiring_within_days, progress)
