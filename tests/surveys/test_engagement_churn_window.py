"""The churn-drop window: the best daily score of the previous ``churn_drop_days`` days,
at its edges (the oldest day in and out of the window, days without a recompute, a rerun
the same day) and after the window changed length or its cache was lost. The window is
cached in the memberships' figures; the history stays the truth it is rebuilt from.

The weights count recency only, so a member active at the moment of the recompute
scores 100 and a member never active scores 0."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from programs.models import Membership
from surveys.engagement.models import EngagementScore, EngagementScoreDay
from surveys.engagement.scores import engagement_recompute, engagement_weights
from surveys.engagement.selectors import membership_engagement_history
from tests.programs import conftest as engine

program, tiers, membership = engine.program, engine.tiers, engine.membership

DAY0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def weights(db):
    w = engagement_weights()
    w.recency = Decimal(1)
    w.frequency = w.monetary = w.portal = w.surveys = w.referrals = w.redemptions = Decimal(0)
    w.churn_threshold, w.churn_drop, w.churn_drop_days = Decimal(0), Decimal(25), 3
    w.save()
    return w


def on_day(member, n, *, active):
    """Recompute on DAY0 + n days, the member active at that moment or never active."""
    now = DAY0 + timedelta(days=n)
    Membership.objects.filter(pk=member.pk).update(last_activity_at=now if active else None)
    engagement_recompute(now=now)
    return EngagementScore.objects.get(membership=member)


def test_the_oldest_day_of_the_window_counts_and_the_day_before_does_not(weights, membership):
    assert on_day(membership, 0, active=True).engagement_score == 100
    flags = [on_day(membership, n, active=False).churn_risk for n in (1, 2, 3, 4)]
    # 100 on day 0 is within the 3 days before days 1 to 3, not before day 4
    assert flags == [True, True, True, False]
    history = membership_engagement_history(membership=membership)
    assert [(row.day, row.score, row.churn_risk) for row in history] == [
        (date(2026, 6, 1), Decimal("100.00"), False),
        (date(2026, 6, 2), Decimal("0.00"), True),
        (date(2026, 6, 3), Decimal("0.00"), True),
        (date(2026, 6, 4), Decimal("0.00"), True),
        (date(2026, 6, 5), Decimal("0.00"), False),
    ]


def test_days_without_a_recompute_leave_the_window(weights, membership):
    on_day(membership, 0, active=True)
    assert on_day(membership, 3, active=False).churn_risk is True  # day 0 still in
    assert on_day(membership, 7, active=False).churn_risk is False  # long gone


def test_a_rerun_the_same_day_still_sees_the_oldest_day(weights, membership):
    weights.churn_drop_days = 1
    weights.save()
    on_day(membership, 0, active=True)
    assert on_day(membership, 1, active=False).churn_risk is True
    assert on_day(membership, 1, active=False).churn_risk is True  # rerun: day 0 still in
    assert EngagementScoreDay.objects.filter(membership=membership).count() == 2


def test_a_better_day_later_in_the_window_is_the_best(weights, membership):
    on_day(membership, 0, active=False)
    on_day(membership, 1, active=True)
    assert on_day(membership, 2, active=False).churn_risk is True
    assert on_day(membership, 4, active=False).churn_risk is True  # day 1: 3 days before
    assert on_day(membership, 5, active=False).churn_risk is False


def test_a_longer_window_reaches_back_into_the_history(weights, membership):
    weights.churn_drop_days = 1
    weights.save()
    on_day(membership, 0, active=True)
    on_day(membership, 1, active=False)
    assert on_day(membership, 2, active=False).churn_risk is False  # day 0 is 2 days back
    weights.churn_drop_days = 3
    weights.save()
    assert on_day(membership, 2, active=False).churn_risk is True


def test_a_lost_window_cache_is_rebuilt_from_the_history(weights, membership):
    on_day(membership, 0, active=True)
    on_day(membership, 1, active=False)
    # as for scores computed before the cache existed (customers migration 0003)
    EngagementScore.objects.update(engagement_window=None, engagement_window_day=None)
    assert on_day(membership, 2, active=False).churn_risk is True
    assert on_day(membership, 4, active=False).churn_risk is False


def test_a_recompute_for_an_earlier_moment_reads_the_history_of_that_moment(weights, membership):
    on_day(membership, 0, active=True)
    on_day(membership, 1, active=False)
    on_day(membership, 10, active=False)
    # back to day 2: day 0 is within its window again, day 10 is not before it
    assert on_day(membership, 2, active=False).churn_risk is True


def test_a_rerun_replaces_the_score_of_the_day_rather_than_comparing_with_it(weights, membership):
    on_day(membership, 0, active=False)
    assert on_day(membership, 1, active=True).engagement_score == 100
    rerun = on_day(membership, 1, active=False)  # the day's score is now 0, not a drop
    assert (rerun.engagement_score, rerun.churn_risk) == (0, False)
    assert EngagementScoreDay.objects.get(membership=membership, day=date(2026, 6, 2)).score == 0
