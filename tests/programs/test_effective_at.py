"""Every ledger entry has two times: when it was recorded (``created_at``) and when it
counts in business terms (``effective_at``). A purchase reported late counts at its own
date; tiers, expiry and the histories follow that date."""

from datetime import timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.utils import timezone

from programs.models import EntryKind, ExpiryPolicy, LedgerEntry, PointLot, TierMetric
from programs.services.actions import action_record
from programs.services.due import points_expire_due
from programs.services.purchase_refunds import purchase_refund
from programs.services.rewards import reward_redeem
from programs.services.tier_figures import qualification
from tests.factories import RewardFactory
from tests.programs.bookkeeping import assert_books_balance, program_set


def test_a_purchase_reported_late_counts_at_its_date(membership, buy):
    before = timezone.now()
    bought_at = before - timedelta(days=40)
    purchase = buy(membership, "100.00", occurred_at=bought_at)  # 100 EUR x 1 = 100 points

    entry = LedgerEntry.objects.get(purchase=purchase, kind=EntryKind.EARN)
    assert entry.points == 100
    assert entry.effective_at == bought_at  # counts 40 days ago ...
    assert entry.created_at >= before  # ... recorded now
    lot = PointLot.objects.get(earn_entry=entry)
    assert lot.earned_at == bought_at
    assert lot.expires_at == bought_at + relativedelta(months=24)  # the default policy


def test_a_return_counts_at_the_date_of_the_purchase(membership, buy, system):
    bought_at = timezone.now() - timedelta(days=40)
    purchase = buy(membership, "100.00", occurred_at=bought_at)
    before = timezone.now()
    purchase_refund(purchase=purchase, refund_id="R-1", amount=Decimal("40.00"), actor=system)

    reverse = LedgerEntry.objects.get(purchase=purchase, kind=EntryKind.REVERSE)
    assert reverse.points == -40  # 40 of 100 EUR back: 100 x 40/100 = 40 points
    assert reverse.effective_at == bought_at
    assert reverse.created_at >= before
    assert_books_balance(membership)


def test_entries_without_a_business_date_count_when_recorded(program, membership, buy, system):
    buy(membership, "100.00", occurred_at=timezone.now() - timedelta(days=40))
    reward = RewardFactory(program=program, points_cost=30)
    reward_redeem(membership=membership, reward=reward, actor=system)
    redeem = LedgerEntry.objects.get(kind=EntryKind.REDEEM)
    assert redeem.effective_at == redeem.created_at


def test_an_action_counts_at_its_date(program, membership, system):
    program.action_rules.create(code="review", name="Bewertung", points=50)
    reviewed_at = timezone.now() - timedelta(days=10)
    action_record(
        membership=membership,
        code="review",
        reference="r-1",
        actor=system,
        occurred_at=reviewed_at,
    )
    entry = LedgerEntry.objects.get(kind=EntryKind.EARN)
    assert entry.effective_at == reviewed_at
    assert entry.created_at > reviewed_at + timedelta(days=9)


def test_the_tier_window_counts_points_by_their_business_date(program, membership, buy, tiers):
    program_set(program, tier_metric=TierMetric.POINTS)
    now = timezone.now()
    # Both recorded today; one bought 13 months ago (outside the rolling 12 months).
    buy(membership, "300.00", occurred_at=now - relativedelta(months=13))
    buy(membership, "450.00", occurred_at=now - relativedelta(months=11))
    assert qualification(membership, timezone.now()).value == Decimal("450")  # not 750
    membership.refresh_from_db()
    assert membership.tier == tiers["Bronze"]  # Silber needs 500
    buy(membership, "50.00")  # 450 + 50 = 500 within the window
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]


def test_a_late_return_of_an_old_purchase_leaves_this_window_alone(
    program, membership, buy, tiers, system
):
    program_set(program, tier_metric=TierMetric.POINTS)
    now = timezone.now()
    old = buy(membership, "200.00", occurred_at=now - relativedelta(months=13))
    buy(membership, "520.00", occurred_at=now - timedelta(days=3))
    purchase_refund(purchase=old, refund_id="R-old", amount=Decimal("200.00"), actor=system)
    # The return (recorded today) is effective 13 months ago: 520 points stay in the window.
    assert qualification(membership, timezone.now()).value == Decimal("520")
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]


def test_points_expire_from_the_business_date(program, membership, buy):
    program_set(program, expiry_policy=ExpiryPolicy.FIXED_PERIOD, expiry_months=12)
    now = timezone.now()
    buy(membership, "100.00", occurred_at=now - relativedelta(months=13))  # lapsed a month ago
    buy(membership, "30.00", occurred_at=now - relativedelta(months=11))  # a month left
    membership.refresh_from_db()
    assert membership.balance == 130  # both credited today

    assert points_expire_due(now=timezone.now()) == 100
    membership.refresh_from_db()
    assert membership.balance == 30  # 130 - 100
    assert_books_balance(membership)
