"""The recompute's edge cases: purchases dated after the moment of the recompute, a
rerun on the same day, and the count of memberships scored."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from programs.services.memberships import membership_enroll
from surveys.engagement.models import EngagementScore, EngagementScoreDay
from surveys.engagement.scores import engagement_recompute, engagement_weights
from tests.factories import CustomerFactory
from tests.programs import conftest as engine

program, tiers, partner, membership, buy = (
    engine.program,
    engine.tiers,
    engine.partner,
    engine.membership,
    engine.buy,
)

NOW = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
def weights(db):
    """Frequency and spend only, so a purchase's decay shows directly."""
    w = engagement_weights()
    w.recency = w.portal = w.surveys = w.referrals = w.redemptions = Decimal(0)
    w.frequency = w.monetary = Decimal(1)
    w.half_life_days = 90
    w.frequency_scale, w.monetary_scale = Decimal(4), Decimal(200)
    w.churn_threshold, w.churn_drop, w.churn_drop_days = Decimal(0), Decimal(100), 30
    w.save()
    return w


@pytest.fixture
def other_member(program, tiers):
    return membership_enroll(customer=CustomerFactory(), program=program)[0]


def test_a_purchase_dated_after_the_recompute_counts_as_today(weights, membership, buy):
    buy(membership, "200.00", occurred_at=NOW + timedelta(days=3))  # clock skew: age 0
    assert engagement_recompute(now=NOW) == 1
    score = EngagementScore.objects.get(membership=membership)
    # weight 1, not 0.5 ** (-3 / 90)
    assert score.engagement_frequency == pytest.approx(1 / (1 + 4))
    assert score.engagement_monetary == pytest.approx(200 / (200 + 200))
    assert score.engagement_score == Decimal("35.00")  # 100 * (0.2 + 0.5) / 2


def test_a_rerun_on_the_same_day_keeps_one_history_row_with_the_new_value(
    weights, membership, other_member, buy
):
    buy(membership, "200.00", occurred_at=NOW - timedelta(days=90))
    assert engagement_recompute(now=NOW) == 2
    first = EngagementScoreDay.objects.get(membership=membership, day=date(2026, 6, 1)).score
    buy(membership, "200.00", occurred_at=NOW - timedelta(hours=1))
    assert engagement_recompute(now=NOW + timedelta(hours=2)) == 2
    rows = EngagementScoreDay.objects.filter(membership=membership)
    assert rows.count() == 1
    assert rows.get().score > first
    assert EngagementScoreDay.objects.get(membership=other_member).score == 0
    assert EngagementScore.objects.get(membership=membership).engagement_score == rows.get().score
