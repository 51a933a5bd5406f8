"""A campaign's result: its fixed audience's reached members against its holdout, over
the campaign's window, and the bonus points it gave. Two set-based queries, whatever the
size of the audience. Formulas: :mod:`surveys.metrics.comparison`; every figure and
its counting rule: docs/metrics.md, "Campaign results"."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone

from programs.models import (
    Campaign,
    CampaignAward,
    CampaignMember,
    Purchase,
    PurchaseStatus,
    Redemption,
    RedemptionStatus,
)
from surveys.metrics.comparison import (
    Difference,
    Sample,
    newcombe_difference,
    welch_difference,
)
from surveys.metrics.points import money_round, points_value
from surveys.program_figures import currency_decimals

AUDIENCE = CampaignMember._meta.db_table
PURCHASES = Purchase._meta.db_table
REDEMPTIONS = Redemption._meta.db_table

GROUP_FIELDS = (
    "members",
    "buyers",
    "repeat_buyers",
    "purchases",
    "purchases_squares",
    "spend",
    "spend_squares",
    "redeemers",
    "redemptions",
    "redemptions_squares",
)
MONEY_FIELDS = ("spend", "spend_squares")

# Per audience member: counted purchases (awarded, not refunded in full) and their spend
# net of refunds, and redemptions not cancelled, in [start, end); then summed per group.
# The audience is read from its table each time, not from a CTE: the planner knows its
# size then (a CTE's estimates multiply into millions of rows and switch on JIT
# compilation, which costs seconds).
_GROUPS_SQL = f"""
WITH bought AS (
    SELECT p.membership_id, count(*) AS n, sum(p.amount - p.refunded_amount) AS spend
    FROM {PURCHASES} p
    JOIN {AUDIENCE} a ON a.membership_id = p.membership_id AND a.campaign_id = %(campaign)s
    WHERE p.program_id = %(program)s AND p.status = %(awarded)s
        AND p.refunded_amount < p.amount
        AND p.occurred_at >= %(start)s AND p.occurred_at < %(end)s
    GROUP BY p.membership_id
),
redeemed AS (
    SELECT r.membership_id, count(*) AS n
    FROM {REDEMPTIONS} r
    JOIN {AUDIENCE} a ON a.membership_id = r.membership_id AND a.campaign_id = %(campaign)s
    WHERE r.status <> %(cancelled)s AND r.created_at >= %(start)s AND r.created_at < %(end)s
    GROUP BY r.membership_id
)
SELECT a.in_holdout,
    count(*),
    count(b.membership_id),
    count(*) FILTER (WHERE b.n > 1),
    coalesce(sum(b.n), 0),
    coalesce(sum(b.n * b.n), 0),
    coalesce(sum(b.spend), 0),
    coalesce(sum(b.spend * b.spend), 0),
    count(r.membership_id),
    coalesce(sum(r.n), 0),
    coalesce(sum(r.n * r.n), 0)
FROM {AUDIENCE} a
LEFT JOIN bought b ON b.membership_id = a.membership_id
LEFT JOIN redeemed r ON r.membership_id = a.membership_id
WHERE a.campaign_id = %(campaign)s
GROUP BY a.in_holdout
"""  # noqa: S608 - table names from the models


@dataclass(frozen=True)
class Window:
    """From the campaign's start to its end, or to now while it runs."""

    start: datetime
    end: datetime
    running: bool

    @classmethod
    def of(cls, campaign: Campaign, now: datetime) -> "Window | None":
        """``None`` before the campaign starts."""
        if now <= campaign.starts_at:
            return None
        return cls(
            start=campaign.starts_at,
            end=min(campaign.ends_at, now),
            running=now < campaign.ends_at,
        )


@dataclass(frozen=True)
class Group:
    """One group's counts and sums over the window (``*_squares``: the sum over its
    members of the square of their own count or spend, for the variance)."""

    members: int = 0
    buyers: int = 0
    repeat_buyers: int = 0
    purchases: int = 0
    purchases_squares: int = 0
    spend: Decimal = Decimal(0)
    spend_squares: Decimal = Decimal(0)
    redeemers: int = 0
    redemptions: int = 0
    redemptions_squares: int = 0


@dataclass(frozen=True)
class Figure:
    """One compared figure: its value in each group and the difference reached - holdout.
    ``unit``: ``share`` (a fraction of the members), ``count`` (per member) or ``money``
    (per member, in the program's currency)."""

    key: str
    unit: str
    reached: Fraction | None
    holdout: Fraction | None
    difference: Difference


@dataclass(frozen=True)
class PointsSpent:
    """The bonus points the campaign gave: its counter (what the budget checks) and its
    award rows (one per purchase), which should agree; ``holdout_points`` went to members
    of the holdout and should be 0. ``cost`` = counter x the program's value of a point,
    rounded once to the currency."""

    points_awarded: int
    award_points: int
    awards: int
    members_awarded: int
    holdout_points: int
    budget_points: int | None
    cost: Decimal

    @property
    def counts_agree(self) -> bool:
        return self.points_awarded == self.award_points


@dataclass(frozen=True)
class CampaignResults:
    campaign: Campaign
    currency: str
    now: datetime
    window: Window | None
    reached: Group | None
    holdout: Group | None
    figures: list[Figure]
    points: PointsSpent

    @property
    def has_audience(self) -> bool:
        return self.campaign.audience_frozen_at is not None

    @property
    def holdout_share(self) -> Fraction | None:
        """The holdout's actual share of the audience (the configured one is a target)."""
        if self.reached is None or self.holdout is None:
            return None
        total = self.reached.members + self.holdout.members
        return None if total == 0 else Fraction(self.holdout.members, total)

    def money(self, value: Fraction | Decimal | float | None) -> Decimal | None:
        """An amount of the program's currency, rounded once for display."""
        if value is None:
            return None
        if isinstance(value, float):
            value = Fraction(value)
        return money_round(value, currency_decimals(self.currency))

    @property
    def extra_spend(self) -> tuple[Decimal, Decimal | None, Decimal | None] | None:
        """Estimated extra spend of the reached members: the difference in spend per
        member times the reached members, with its interval scaled alike."""
        spend = next((f for f in self.figures if f.key == "spend_per_member"), None)
        if spend is None or spend.difference.estimate is None:
            return None
        n, d = self.reached.members, spend.difference
        low = None if d.low is None else self.money(d.low * n)
        high = None if d.high is None else self.money(d.high * n)
        return self.money(d.estimate * n), low, high


def campaign_state(campaign: Campaign, now: datetime) -> str:
    """``planned`` before the start, ``running`` until the end, then ``ended``."""
    if now <= campaign.starts_at:
        return "planned"
    return "running" if now < campaign.ends_at else "ended"


def group_counts(campaign: Campaign, window: Window) -> tuple[Group, Group]:
    """(reached, holdout) of the campaign's fixed audience over the window."""
    params = {
        "campaign": campaign.pk,
        "program": campaign.program_id,
        "awarded": PurchaseStatus.AWARDED,
        "cancelled": RedemptionStatus.CANCELLED,
        "start": window.start,
        "end": window.end,
    }
    with connection.cursor() as cursor:
        cursor.execute(_GROUPS_SQL, params)
        rows = {in_holdout: values for in_holdout, *values in cursor.fetchall()}
    groups = []
    for in_holdout in (False, True):
        values = dict(zip(GROUP_FIELDS, rows.get(in_holdout, ()), strict=False))
        groups.append(
            Group(**{k: Decimal(v) if k in MONEY_FIELDS else int(v) for k, v in values.items()})
        )
    return groups[0], groups[1]


def compared_figures(reached: Group, holdout: Group) -> list[Figure]:
    """The figures in the order shown: purchases, spend and repurchase, then redemption."""

    def share(key: str, count: str) -> Figure:
        r, h = getattr(reached, count), getattr(holdout, count)
        return Figure(
            key=key,
            unit="share",
            reached=Fraction(r, reached.members) if reached.members else None,
            holdout=Fraction(h, holdout.members) if holdout.members else None,
            difference=newcombe_difference(r, reached.members, h, holdout.members),
        )

    def mean(key: str, unit: str, total: str) -> Figure:
        r = Sample(reached.members, getattr(reached, total), getattr(reached, f"{total}_squares"))
        h = Sample(holdout.members, getattr(holdout, total), getattr(holdout, f"{total}_squares"))
        return Figure(
            key=key, unit=unit, reached=r.mean, holdout=h.mean, difference=welch_difference(r, h)
        )

    return [
        share("buyer_rate", "buyers"),
        mean("purchases_per_member", "count", "purchases"),
        mean("spend_per_member", "money", "spend"),
        share("repurchase_rate", "repeat_buyers"),
        share("redemption_rate", "redeemers"),
        mean("redemptions_per_member", "count", "redemptions"),
    ]


def points_spent(campaign: Campaign) -> PointsSpent:
    holdout = CampaignMember.objects.filter(campaign=campaign, in_holdout=True).values(
        "membership_id"
    )
    awards = CampaignAward.objects.filter(campaign=campaign).aggregate(
        total=Sum("points", default=0),
        awards=Count("pk"),
        members=Count("membership", distinct=True),
        to_holdout=Sum("points", default=0, filter=Q(membership__in=holdout)),
    )
    program = campaign.program
    return PointsSpent(
        points_awarded=campaign.points_awarded,
        award_points=awards["total"],
        awards=awards["awards"],
        members_awarded=awards["members"],
        holdout_points=awards["to_holdout"],
        budget_points=campaign.budget_points,
        cost=money_round(
            points_value(campaign.points_awarded, Decimal(program.point_value)),
            currency_decimals(program.currency),
        ),
    )


def campaign_results(campaign: Campaign, *, now: datetime | None = None) -> CampaignResults:
    """The campaign's result as of ``now``. Without a fixed audience, or before the
    start, there is nothing to compare: no groups and no figures, the points only."""
    now = now or timezone.now()
    window = Window.of(campaign, now)
    reached = holdout = None
    figures: list[Figure] = []
    if window is not None and campaign.audience_frozen_at is not None:
        reached, holdout = group_counts(campaign, window)
        figures = compared_figures(reached, holdout)
    return CampaignResults(
        campaign=campaign,
        currency=campaign.program.currency,
        now=now,
        window=window,
        reached=reached,
        holdout=holdout,
        figures=figures,
        points=points_spent(campaign),
    )


def campaigns_with_audience():
    """Campaigns whose audience is fixed, newest first, with the size of each group."""
    return (
        Campaign.objects.filter(audience_frozen_at__isnull=False)
        .select_related("program")
        .annotate(
            reached_members=Count("members", filter=Q(members__in_holdout=False)),
            holdout_members=Count("members", filter=Q(members__in_holdout=True)),
        )
        .order_by("-starts_at", "-pk")
    )
