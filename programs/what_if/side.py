"""One side of a replay (``programs.what_if.replay``): a copy of the program's rules, the
members as they stand on that side, and the award path's steps for one purchase: the
inputs of the calculator, the booking of its points and bonus, the qualifying figures of
the window and the upgrade rule."""

from collections import defaultdict, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from programs.campaign_rules import CampaignTerms, reaches
from programs.earning import Breakdown, purchase_points, running_campaigns
from programs.models import (
    EarnRule,
    Program,
    Tier,
    TierKind,
    TierMetric,
    TierWindow,
)
from programs.services.award_reading import Member
from programs.services.tier_figures import ZERO, qualification_window, supported_tier, tier_rank
from programs.services.tiers import effective_tier, qualified_tier_raise
from programs.what_if.purchases import Replayed

ONE = Decimal(1)
# A rolling window reaches back twelve months: 365 or 366 days. Figures younger than a
# year are always in it, so the exact start is computed only for members with older ones.
YEAR = timedelta(days=365)


@dataclass
class Rules:
    """One side: a copy of the program's rules. ``program`` may carry unsaved changes (tier
    window, qualification metric) and ``tiers`` proposed thresholds (unsaved copies)."""

    program: Program
    tiers: dict[int, Tier]  # every tier of the program, by id
    rules: list[EarnRule]
    campaigns: list[CampaignTerms]
    budget_left: dict[int, int] = field(default_factory=dict)  # campaign id -> points left

    @property
    def qualified(self) -> list[Tier]:
        tiers = [t for t in self.tiers.values() if t.kind == TierKind.QUALIFIED]
        return sorted(tiers, key=lambda t: t.rank)


@dataclass
class Facts:
    """What the replay takes as it is on both sides (the proposal does not change it)."""

    start: datetime
    end: datetime
    fees: set[int] = field(default_factory=set)  # subscription fees: no qualifying spend
    # membership id -> (override tier id, until, subscription tier id, until)
    extras: dict[int, tuple] = field(default_factory=dict)
    reached: dict[int, set[int]] = field(default_factory=dict)  # fixed audiences reached
    cap_used: dict[int, dict[int, int]] = field(default_factory=dict)  # before the start
    day_used: dict[int, dict[tuple[int, date], int]] = field(default_factory=dict)
    bought_before: set[int] | None = None  # None: no first-purchase campaign asks


class Figures:
    """A member's qualifying figures (spend or points) in the window: their sum and, when
    some may leave the window before the period ends, each with its time, oldest first."""

    __slots__ = ("times", "total", "values")

    def __init__(self, keep_entries: bool):
        self.times = deque() if keep_entries else None
        self.values = deque() if keep_entries else None
        self.total = ZERO


class Standing:
    """A member on one side: what ``effective_tier`` and ``qualified_tier_raise`` read and
    write on a membership, the qualifying figures, the campaign facts."""

    __slots__ = (
        "account_tier",  # the shared account's tier, as it stands at the start
        "figures",  # ``Figures``, shared by both sides when they count the same
        "has_extras",
        "member",  # ``award_reading.Member``: caps, audiences, first purchase
        "next_at",  # the least figure that supports a higher tier
        "override_tier",
        "override_tier_id",
        "override_until",
        "plain",  # the calculator's input without campaigns: (multiplier, (), None, None)
        "program",
        "qualified_tier",
        "qualified_tier_since",
        "rising",  # below the top tier: the figures are followed
        "subscription_tier",
        "subscription_until",
        "tier",
        "tier_review_at",
    )


class Side:
    """One side of the replay while it runs, and its totals."""

    def __init__(self, rules: Rules, facts: Facts):
        self.rules, self.facts = rules, facts
        self.program = rules.program
        self.campaigns = rules.campaigns
        self.qualified = rules.qualified
        # As on enrolment (``membership_tier_start``): the tier that no figures support.
        self.start_tier = supported_tier(self.qualified, ZERO)
        self.points_metric = self.program.tier_metric == TierMetric.POINTS
        self.rolling = self.program.tier_window != TierWindow.CALENDAR_YEAR
        self.keep_entries = _figures_may_leave(self.program, facts.start, facts.end)
        self.year_start: datetime | None = None
        self.next_year: datetime | None = None
        self.reaches_back: dict[date, timedelta] = {}
        self.running: list[CampaignTerms] = []  # ``_running_at``'s answer, and until when
        self.running_day: date | None = None
        self.running_from = self.running_until = facts.start
        self.budget_left = dict(rules.budget_left)
        self.standings: dict[int, Standing] = {}
        self.points = 0
        self.bonus: dict[int, int] = defaultdict(int)
        self.bonus_members: dict[int, set[int]] = defaultdict(set)
        self.bonus_purchases: dict[int, int] = defaultdict(int)
        self.exhausted_at: dict[int, datetime] = {}

    def counts_like(self, other: "Side") -> bool:
        """Whether both sides' figures are the same whatever their points: spend, in the
        same window."""
        return (not self.points_metric and not other.points_metric) and (
            self.program.tier_window == other.program.tier_window
        )

    # --- members ---------------------------------------------------------------------------
    def standing_new(self, member_id: int, figures: Figures | None = None) -> Standing:
        """The member at the start of the period (module docstring of ``tiers``);
        ``figures``: the other side's, when both count the same."""
        facts, tiers = self.facts, self.rules.tiers
        st = self.standings[member_id] = Standing()
        st.program = self.program
        st.qualified_tier = self.start_tier
        st.qualified_tier_since = facts.start
        st.tier_review_at = None
        extras = facts.extras.get(member_id)
        st.has_extras = extras is not None
        override_id, override_until, subscription_id, subscription_until, account_id = (
            extras or (None,) * 5
        )
        st.override_tier_id = override_id
        st.override_tier = tiers.get(override_id)
        st.override_until = override_until
        st.subscription_tier = tiers.get(subscription_id)
        st.subscription_until = subscription_until
        st.account_tier = tiers.get(account_id)
        self._tier_set(st, effective_tier(st, facts.start) if st.has_extras else st.qualified_tier)
        self._next_set(st)
        st.figures = figures or Figures(self.keep_entries)
        st.member = None
        if self.campaigns:
            bought = facts.bought_before
            st.member = Member(
                membership=st,
                cap_used=dict(facts.cap_used.get(member_id, {})),
                day_used=dict(facts.day_used.get(member_id, {})),
                reached=facts.reached.get(member_id, set()),
                has_purchased=True if bought is None else member_id in bought,
            )
        return st

    def _tier_set(self, st: Standing, tier: Tier | None) -> None:
        st.tier = tier
        st.plain = (tier.earn_multiplier if tier is not None else ONE, (), None, None)

    def _next_set(self, st: Standing) -> None:
        rank = tier_rank(st.qualified_tier)
        above = [t.threshold for t in self.qualified if t.rank > rank]
        st.rising = bool(above)  # at the top: nothing left to check (``awarding``)
        st.next_at = min(above) if above else None

    # --- one purchase ------------------------------------------------------------------------
    def inputs(self, st: Standing, p: Replayed) -> tuple:
        """What the calculator is given for this purchase: (tier multiplier, campaigns
        reaching it, their caps left, the purchase's local date)."""
        if st.has_extras:  # a staff tier or a subscription may have ended by now (the
            # account tier is held as it stands at the start)
            self._tier_set(st, effective_tier(st, p.occurred_at))
        if not self.campaigns:
            return st.plain
        running, day = self._running_at(p.occurred_at)
        if running and self.budget_left:  # a spent budget ends its campaign (``award_reading``)
            running = [c for c in running if self.budget_left.get(c.pk, 1) > 0]
        if not running:
            return st.plain
        member, tier = st.member, st.tier
        tier_id = tier.pk if tier is not None else None
        campaigns = [
            c
            for c in running
            if reaches(
                c,
                tier_id=tier_id,
                partner_id=p.partner_id,
                first_purchase=not member.has_purchased,
                reached=c.pk in member.reached,
            )
        ]
        if not campaigns:
            return st.plain
        caps = {c.pk: member.cap_left(c, day, self.budget_left) for c in campaigns}
        return st.plain[0], campaigns, caps, day

    def _running_at(self, at: datetime) -> tuple[list[CampaignTerms], date]:
        """The campaigns running at ``at`` (``earning.running_campaigns``) and its local
        date. Whether a campaign runs depends on its window and the local weekday and
        hour (``campaign_rules.times_match``): the answer holds until the local hour ends
        or a window starts or ends, so it is computed about once an hour, not for each
        purchase (reading the local time was a fifth of a campaign what-if)."""
        if not self.running_from <= at < self.running_until:
            local = timezone.localtime(at)
            hour_left = timedelta(minutes=60 - local.minute) - timedelta(
                seconds=local.second, microseconds=local.microsecond
            )
            bounds = [t for c in self.campaigns for t in (c.starts_at, c.ends_at) if t > at]
            self.running = running_campaigns(self.campaigns, at)
            self.running_day = local.date()
            self.running_from, self.running_until = at, min([at + hour_left, *bounds])
        return self.running, self.running_day

    def points_of(self, p: Replayed, inputs: tuple) -> Breakdown:
        multiplier, campaigns, caps, _day = inputs
        return purchase_points(
            program=self.program,
            amount=p.amount,
            lines=p.lines,
            occurred_at=p.occurred_at,
            tier_multiplier=multiplier,
            rules=self.rules.rules,
            campaigns=campaigns,
            cap_left=caps,
        )

    def book(self, st: Standing, p: Replayed, breakdown: Breakdown, day) -> int:
        """Book the purchase's points as ``awarding._compute`` does; returns them."""
        total = breakdown.total
        self.points += total
        if breakdown.campaign_points:
            self._bonus_book(st, p, breakdown, day)
        if st.member is not None:
            st.member.has_purchased = True
        return total

    def _bonus_book(self, st: Standing, p: Replayed, breakdown: Breakdown, day) -> None:
        for campaign_id, points in breakdown.campaign_points.items():
            st.member.bonus_given(campaign_id, day, points)
            self.bonus[campaign_id] += points
            self.bonus_members[campaign_id].add(p.membership_id)
            self.bonus_purchases[campaign_id] += 1
            if campaign_id in self.budget_left:
                self.budget_left[campaign_id] -= points
                if self.budget_left[campaign_id] <= 0:
                    self.exhausted_at.setdefault(campaign_id, p.occurred_at)

    # --- the upgrade (``awarding._upgrade_check``, at the purchase's time) -------------------
    def figures_add(self, figures: Figures, p: Replayed, points: int) -> Decimal:
        """Count the purchase in the figures of the window ending at its time; returns
        the qualifying value then (spend, or points earned: never below zero)."""
        at = p.occurred_at
        if self.points_metric:
            value = points
        elif p.pk in self.facts.fees:
            value = ZERO
        else:
            value = p.amount
        figures.total += value
        times = figures.times
        if times is not None:
            times.append(at)
            figures.values.append(value)
            if not self.rolling or at - times[0] >= YEAR:  # older than a year: look
                start = self._window_start(at)
                while times[0] < start:
                    times.popleft()
                    figures.total -= figures.values.popleft()
        return max(figures.total, ZERO) if self.points_metric else figures.total

    def upgrade_check(self, st: Standing, value: Decimal, at: datetime) -> None:
        """Raise the qualified tier if ``value`` supports a higher one."""
        if value < st.next_at:  # no higher tier's threshold reached: the rule says no
            return
        if qualified_tier_raise(st, self.qualified, value, at):
            self._next_set(st)
            self._tier_set(st, effective_tier(st, at))

    def _window_start(self, at: datetime) -> datetime:
        if self.rolling:
            return at - self._reach(at)
        if self.next_year is None or at >= self.next_year:
            self.year_start = qualification_window(self.program, at)[0]
            local = timezone.localtime(self.year_start)
            self.next_year = local.replace(year=local.year + 1)
        return self.year_start

    def _reach(self, at: datetime) -> timedelta:
        """How far the rolling window reaches back from ``at``. Twelve calendar months
        back from a UTC time keep its time of day, so the reach is the same all day long:
        computed once a day (``qualification_window``), not for every purchase."""
        day = at.date()
        reach = self.reaches_back.get(day)
        if reach is None:
            reach = self.reaches_back[day] = at - qualification_window(self.program, at)[0]
        return reach

    def end_tiers(self) -> dict[int, Tier | None]:
        """Each replayed member's tier at the end of the period."""
        return {member_id: st.tier for member_id, st in self.standings.items()}


def _figures_may_leave(program: Program, start: datetime, end: datetime) -> bool:
    """Whether a figure of the period can fall out of the window before the period ends:
    whether the window at its end starts after it (windows only move forward)."""
    return qualification_window(program, end)[0] > start
