"""A member's balances for the partner API in one query (#21); see
``partner_member_balances``."""

from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import (
    Case,
    CharField,
    DateTimeField,
    DecimalField,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce, Greatest, JSONObject
from django.utils import timezone
from django.utils.dateparse import parse_datetime

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
    TierWindow,
)
from programs.selectors import (
    MEMBER_RELATED,
    MembershipBalance,
    TierProgress,
    partner_program_ids_query,
)
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
    Empty if the member is unknown or has no membership (in ``program_slug``): the caller
    tells these apart."""
    now = now or timezone.now()
    links = PartnerCustomer.objects.filter(partner=partner, external_id=external_id)
    memberships = Membership.objects.filter(
        customer_id__in=links.values("customer_id"),
        program_id__in=partner_program_ids_query(partner),
    )
    if program_slug:
        memberships = memberships.filter(program__slug=program_slug)
    rows = (
        memberships.select_related(*MEMBER_RELATED)
        .alias(  # used by the subqueries, not selected
            window_start=_window_start(now),
            reached_rank=Greatest(  # of the qualified tiers reached (NULLs ignored)
                Case(When(tier__kind=TierKind.QUALIFIED, then=F("tier__rank"))),
                Case(When(qualified_tier__kind=TierKind.QUALIFIED, then=F("qualified_tier__rank"))),
            ),
        )
        .annotate(
            qualifying_value=_qualifying_value(now),
            upcoming=Subquery(_next_tier_row()),
            expiring=ArraySubquery(_expiring_lots(now + timedelta(days=expiring_within_days))),
        )
        .order_by("program__slug")
    )
    return [_balance_of_row(row, now, expiring_within_days) for row in rows]


def _window_start(now: datetime) -> Case:
    """The qualification window's start by the program's rule (the window ends ``now``),
    from ``qualification_window`` itself so the two cannot differ."""
    starts = {rule: qualification_window(Program(tier_window=rule), now)[0] for rule in TierWindow}
    return Case(
        *[When(program__tier_window=rule, then=Value(start)) for rule, start in starts.items()],
        output_field=DateTimeField(),
    )


def _qualifying_value(now: datetime) -> Case:
    """``tier_figures.qualifying_value`` in SQL: net spend of awarded purchases (no tier
    fees) or points earned net of returns (not below zero) in the window."""
    spend = (
        Purchase.objects.filter(
            membership=OuterRef("pk"),
            status=PurchaseStatus.AWARDED,
            occurred_at__gte=OuterRef("window_start"),
            occurred_at__lte=now,
            subscription__isnull=True,
        )
        .values("membership")
        .annotate(
            total=Coalesce(Sum("amount"), Decimal(0)) - Coalesce(Sum("refunded_amount"), Decimal(0))
        )
        .values("total")
    )
    earned = (
        LedgerEntry.objects.filter(
            membership=OuterRef("pk"),
            kind__in=[EntryKind.EARN, EntryKind.REVERSE],
            effective_at__gte=OuterRef("window_start"),
            effective_at__lte=now,
        )
        .values("membership")
        .annotate(total=Coalesce(Sum("points"), 0) + Coalesce(Sum("pending_points"), 0))
        .values("total")
    )
    return Case(
        When(
            program__tier_metric=TierMetric.POINTS,
            then=Greatest(Coalesce(Subquery(earned), 0), 0),
        ),
        default=Coalesce(Subquery(spend), Decimal(0)),
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )


NEXT_TIER_FIELDS = ("id", "program_id", "name", "rank", "threshold")


def _next_tier_row() -> QuerySet[Tier]:
    """``tier_figures.next_tier`` in SQL: the lowest qualified tier above the highest
    qualified tier reached (``reached_rank``; none reached: the lowest), as JSON (the
    threshold as text, so it stays an exact decimal)."""
    return (
        Tier.objects.filter(
            program=OuterRef("program_id"),
            kind=TierKind.QUALIFIED,
            rank__gt=Coalesce(OuterRef("reached_rank"), -1),
        )
        .order_by("rank")
        .values(
            json=JSONObject(
                id="id",
                program_id="program_id",
                name="name",
                rank="rank",
                threshold=Cast("threshold", CharField()),
            )
        )[:1]
    )


def _expiring_lots(horizon: datetime) -> QuerySet[PointLot]:
    """``membership_balance``'s expiring points: per date, as JSON, soonest first."""
    return (
        PointLot.objects.filter(
            membership=OuterRef("pk"),
            released_at__isnull=False,
            expired_at__isnull=True,
            remaining__gt=0,
            expires_at__isnull=False,
            expires_at__lte=horizon,
        )
        .values("expires_at")
        .annotate(points=Sum("remaining"))
        .order_by("expires_at")
        .values(json=JSONObject(expires_at="expires_at", points="points"))
    )


def _balance_of_row(row: Membership, now: datetime, expiring_within_days: int) -> MembershipBalance:
    upcoming = None
    if row.upcoming is not None:
        threshold = Decimal(row.upcoming["threshold"])
        values = [row.upcoming[name] for name in NEXT_TIER_FIELDS[:-1]] + [threshold]
        # Only these fields are loaded; any other would be read from the database.
        upcoming = Tier.from_db(row._state.db, NEXT_TIER_FIELDS, values)
    value = row.qualifying_value
    start, end = qualification_window(row.program, now)
    progress = TierProgress(
        metric=row.program.tier_metric,
        qualifying_value=value,
        window_start=start,
        window_end=end,
        next_tier=upcoming,
        gap=max(Decimal(0), upcoming.threshold - value) if upcoming else None,
        review_at=row.tier_review_at,
    )
    expiring = [
        {"expires_at": parse_datetime(lot["expires_at"]), "points": lot["points"]}
        for lot in row.expiring
    ]
    return MembershipBalance(row, expiring, expiring_within_days, progress)
