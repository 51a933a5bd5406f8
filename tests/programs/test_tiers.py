"""Qualified tiers: upgrade as soon as a threshold is crossed, downgrade only when the
qualification period closes (after the grace days), one step or to the supported tier."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from dateutil.relativedelta import relativedelta
from django.utils import timezone

from programs.models import (
    ActionRule,
    DowngradeMode,
    TierChange,
    TierChangeReason,
    TierMetric,
    TierWindow,
)
from programs.services.actions import action_record
from programs.services.due import tiers_review_due
from programs.services.purchase_refunds import purchase_refund
from programs.services.tier_figures import qualification
from programs.services.tiers import membership_tier_upgrade
from tests.programs.bookkeeping import program_set

BERLIN = ZoneInfo("Europe/Berlin")


def latest_change(membership):
    return TierChange.objects.filter(membership=membership).first()  # newest first


def test_enrollment_starts_at_the_base_tier(membership, tiers):
    assert membership.tier == tiers["Bronze"]
    change = latest_change(membership)
    assert change.reason == TierChangeReason.ENROLLED
    assert (change.from_tier, change.to_tier) == (None, tiers["Bronze"])


def test_upgrade_as_soon_as_the_threshold_is_crossed(membership, buy, tiers):
    buy(membership, "499.99")
    membership.refresh_from_db()
    assert membership.tier == tiers["Bronze"]
    before = timezone.now()
    buy(membership, "0.01")  # 500.00: Silber
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]
    change = latest_change(membership)
    assert change.reason == TierChangeReason.UPGRADE
    assert (change.from_tier, change.to_tier) == (tiers["Bronze"], tiers["Silber"])
    assert change.qualifying_value == Decimal("500.00")
    assert change.window_end >= before
    assert change.window_start == change.window_end - relativedelta(months=12)
    assert membership.tier_review_at == change.window_end + relativedelta(months=12)

    buy(membership, "4500.00")  # 5000.00: straight past Gold to Platin
    membership.refresh_from_db()
    assert membership.tier == tiers["Platin"]
    change = latest_change(membership)
    assert (change.from_tier, change.to_tier) == (tiers["Silber"], tiers["Platin"])
    assert change.qualifying_value == Decimal("5000.00")


def test_spend_outside_the_rolling_window_does_not_count(membership, buy, tiers):
    buy(membership, "400.00", occurred_at=timezone.now() - relativedelta(months=13))
    buy(membership, "200.00")  # only 200 in the last 12 months
    membership.refresh_from_db()
    assert membership.tier == tiers["Bronze"]


def test_no_downgrade_before_the_review(program, membership, buy, tiers):
    buy(membership, "1600.00")
    membership.refresh_from_db()
    assert membership.tier == tiers["Gold"]
    review_at = membership.tier_review_at
    assert tiers_review_due(now=review_at - timedelta(seconds=1)) == 0
    membership.refresh_from_db()
    assert membership.tier == tiers["Gold"]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [(DowngradeMode.ONE_STEP, "Gold"), (DowngradeMode.TO_QUALIFIED, "Bronze")],
)
def test_review_downgrades_one_step_or_to_the_supported_tier(
    program, membership, buy, tiers, mode, expected
):
    program_set(program, downgrade_mode=mode)
    buy(membership, "5000.00")
    membership.refresh_from_db()
    assert membership.tier == tiers["Platin"]
    review_at = membership.tier_review_at
    # nothing was bought in the twelve months up to the review: the figures support Bronze
    assert tiers_review_due(now=review_at + timedelta(seconds=1)) == 1
    membership.refresh_from_db()
    assert membership.tier == tiers[expected]
    change = latest_change(membership)
    assert change.reason == TierChangeReason.DOWNGRADE
    assert (change.from_tier, change.to_tier) == (tiers["Platin"], tiers[expected])
    assert change.qualifying_value == Decimal("0")
    # the next period closes a year later
    assert membership.tier_review_at == review_at + relativedelta(months=12)


def test_one_step_downgrades_a_step_per_review(program, membership, buy, tiers):
    buy(membership, "5000.00")
    seen = []
    for _ in range(4):
        membership.refresh_from_db()
        tiers_review_due(now=membership.tier_review_at + timedelta(seconds=1))
        membership.refresh_from_db()
        seen.append(membership.tier.name)
    assert seen == ["Gold", "Silber", "Bronze", "Bronze"]


def test_grace_days_delay_the_downgrade(program, membership, buy, tiers):
    program_set(program, downgrade_grace_days=30)
    buy(membership, "600.00")
    membership.refresh_from_db()
    review_at = membership.tier_review_at
    assert tiers_review_due(now=review_at + timedelta(days=29)) == 0
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]
    assert tiers_review_due(now=review_at + timedelta(days=30, seconds=1)) == 1
    membership.refresh_from_db()
    assert membership.tier == tiers["Bronze"]
    assert latest_change(membership).reason == TierChangeReason.DOWNGRADE


def test_review_keeps_the_tier_the_figures_support(program, membership, buy, tiers):
    now = timezone.now()
    # Gold reached almost a year ago (on spend from before that); its period closes tomorrow
    reached = now - relativedelta(months=12) + timedelta(days=1)
    buy(membership, "1600.00", occurred_at=reached - timedelta(days=2))
    membership_tier_upgrade(membership, reached)
    membership.refresh_from_db()
    assert membership.tier == tiers["Gold"]
    assert membership.tier_review_at == reached + relativedelta(months=12)
    # within the period: 1000 + 500 = 1500, exactly Gold's threshold
    buy(membership, "1000.00", occurred_at=now - relativedelta(months=8))
    buy(membership, "500.00", occurred_at=now - relativedelta(months=1))
    changes = TierChange.objects.filter(membership=membership).count()
    assert tiers_review_due(now=now + timedelta(days=2)) == 1
    membership.refresh_from_db()
    assert membership.tier == tiers["Gold"]
    assert TierChange.objects.filter(membership=membership).count() == changes  # no change


def test_calendar_year_upgrade_is_reviewed_at_the_end_of_the_following_year(
    program, membership, buy, tiers
):
    program_set(program, tier_window=TierWindow.CALENDAR_YEAR)
    buy(membership, "600.00")
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]
    this_year = timezone.localtime().year
    change = latest_change(membership)
    assert change.window_start == datetime(this_year, 1, 1, tzinfo=BERLIN)
    assert membership.tier_review_at == datetime(this_year + 1, 12, 31, 23, 59, 59, tzinfo=BERLIN)
    # early next year the new year's figures are empty, but the period is not over
    assert tiers_review_due(now=datetime(this_year + 1, 1, 15, tzinfo=BERLIN)) == 0
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]


def test_calendar_year_review_judges_the_year_that_closed(program, membership, buy, tiers):
    program_set(program, tier_window=TierWindow.CALENDAR_YEAR)
    year = timezone.localtime().year - 3
    # Gold reached in July of `year`: kept through year + 1, reviewed on its figures
    buy(membership, "1600.00", occurred_at=datetime(year, 6, 15, 12, tzinfo=BERLIN))
    membership_tier_upgrade(membership, datetime(year, 7, 1, tzinfo=BERLIN))
    membership.refresh_from_db()
    assert membership.tier == tiers["Gold"]
    assert membership.tier_review_at == datetime(year + 1, 12, 31, 23, 59, 59, tzinfo=BERLIN)
    buy(membership, "1000.00", occurred_at=datetime(year + 1, 3, 10, 12, tzinfo=BERLIN))
    buy(membership, "600.00", occurred_at=datetime(year + 1, 12, 20, 12, tzinfo=BERLIN))

    # the nightly job runs in the first hours of the new year: year + 1 had 1600 -> Gold
    assert tiers_review_due(now=datetime(year + 2, 1, 1, 3, tzinfo=BERLIN)) == 1
    membership.refresh_from_db()
    assert membership.tier == tiers["Gold"]
    # the tier now holds through year + 2, reviewed at its end
    assert membership.tier_review_at == datetime(year + 2, 12, 31, 23, 59, 59, tzinfo=BERLIN)

    # nothing bought in year + 2: one step down when that year closes
    assert tiers_review_due(now=datetime(year + 3, 1, 1, 3, tzinfo=BERLIN)) == 1
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]
    change = latest_change(membership)
    assert change.reason == TierChangeReason.DOWNGRADE
    assert change.qualifying_value == Decimal("0")
    assert change.window_start == datetime(year + 2, 1, 1, tzinfo=BERLIN)


def test_points_metric_counts_points_earned(program, membership, buy, tiers, system):
    program_set(program, tier_metric=TierMetric.POINTS, points_per_unit=Decimal(2))
    ActionRule.objects.create(program=program, code="review", name="Bewertung", points=100)
    buy(membership, "199.99")  # 399.98 -> 399 points
    action_record(membership=membership, code="review", reference="r1", actor=system)
    membership.refresh_from_db()
    assert membership.tier == tiers["Bronze"]  # 399 + 100 = 499 points
    buy(membership, "0.50")  # 1 point more: 500 -> Silber
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]
    change = latest_change(membership)
    assert change.reason == TierChangeReason.UPGRADE
    assert change.qualifying_value == Decimal("500")


def test_points_metric_dates_points_by_when_they_were_earned(program, membership, buy, tiers):
    """Backdated history (an import, a till that was offline) counts in the window of the
    purchase, not of the day it was written."""
    program_set(program, tier_metric=TierMetric.POINTS)
    buy(membership, "600.00", occurred_at=timezone.now() - relativedelta(months=13))
    assert qualification(membership, timezone.now()).value == Decimal("0")
    membership.refresh_from_db()
    assert membership.tier == tiers["Bronze"]  # earned 13 months ago: outside the window
    buy(membership, "499.00", occurred_at=timezone.now() - relativedelta(months=11))
    buy(membership, "1.00")
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]  # 500 points earned within 12 months
    assert latest_change(membership).qualifying_value == Decimal("500")


def test_points_metric_counts_a_return_against_the_window_of_the_points(
    program, membership, buy, tiers, system
):
    program_set(program, tier_metric=TierMetric.POINTS)
    old = buy(membership, "300.00", occurred_at=timezone.now() - relativedelta(months=13))
    buy(membership, "520.00")
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]
    purchase_refund(purchase=old, refund_id="R-1", amount=Decimal("300.00"), actor=system)
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]  # 520 points of this window are untouched
    assert qualification(membership, timezone.now()).value == Decimal("520")
