"""Point expiry under each policy: an expire entry per lot (never a deletion), idempotent job
runs, dates in Europe/Berlin."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from django.utils import timezone

from programs.models import ActionRule, EntryKind, ExpiryPolicy, LedgerEntry, PointLot
from programs.services.actions import action_record
from programs.services.due import points_expire_due
from programs.services.rewards import reward_redeem
from tests.factories import RewardFactory
from tests.programs.bookkeeping import assert_books_balance, program_set

BERLIN = ZoneInfo("Europe/Berlin")


def balance(membership):
    membership.refresh_from_db()
    return membership.balance


def test_fixed_period_lot_expires_after_n_months(program, membership, buy, system):
    program_set(program, expiry_policy=ExpiryPolicy.FIXED_PERIOD, expiry_months=24)
    bought_at = timezone.now() - timedelta(minutes=1)
    buy(membership, "100.00", occurred_at=bought_at)
    reward_redeem(
        membership=membership,
        reward=RewardFactory(program=program, points_cost=30),
        actor=system,
    )
    lot = PointLot.objects.get(membership=membership)
    expires_at = bought_at + relativedelta(months=24)
    assert lot.expires_at == expires_at

    assert points_expire_due(now=expires_at - timedelta(seconds=1)) == 0
    assert balance(membership) == 70

    assert points_expire_due(now=expires_at) == 70  # what the redemption left
    assert balance(membership) == 0
    lot.refresh_from_db()
    assert (lot.points, lot.remaining) == (100, 0)  # the lot is kept, emptied
    assert lot.expired_at == expires_at
    expire = LedgerEntry.objects.get(membership=membership, kind=EntryKind.EXPIRE)
    assert (expire.points, expire.balance_after) == (-70, 0)
    assert list(expire.allocations.values_list("lot", "points")) == [(lot.pk, 70)]
    # nothing was deleted: earn, redeem and expire are all in the ledger
    kinds = list(membership.entries.order_by("id").values_list("kind", flat=True))
    assert kinds == [EntryKind.EARN, EntryKind.REDEEM, EntryKind.EXPIRE]
    assert_books_balance(membership)

    # the job running again changes nothing
    assert points_expire_due(now=expires_at + timedelta(days=1)) == 0
    assert membership.entries.count() == 3
    assert balance(membership) == 0


def test_fixed_period_expires_each_lot_on_its_own_date(program, membership, buy):
    program_set(program, expiry_policy=ExpiryPolicy.FIXED_PERIOD, expiry_months=12)
    now = timezone.now()
    buy(membership, "40.00", occurred_at=now - relativedelta(months=13))  # expired a month ago
    buy(membership, "25.00", occurred_at=now - relativedelta(months=6))  # due in 6 months
    assert balance(membership) == 65
    assert points_expire_due(now=now) == 40
    assert balance(membership) == 25
    assert points_expire_due(now=now + relativedelta(months=6, days=1)) == 25
    assert balance(membership) == 0
    assert membership.entries.filter(kind=EntryKind.EXPIRE).count() == 2
    assert_books_balance(membership)


def test_end_of_following_year_in_berlin(program, membership, buy):
    program_set(program, expiry_policy=ExpiryPolicy.END_OF_FOLLOWING_YEAR)
    year = timezone.now().year - 1
    # 00:30 on 1 January in Berlin is still 31 December in UTC: the Berlin date counts
    bought_at = datetime(year, 1, 1, 0, 30, tzinfo=BERLIN)
    buy(membership, "250.00", occurred_at=bought_at)
    lot = PointLot.objects.get(membership=membership)
    expires_at = datetime(year + 1, 12, 31, 23, 59, 59, tzinfo=BERLIN)
    assert lot.expires_at == expires_at
    assert timezone.localtime(lot.expires_at).strftime("%d.%m.%Y") == f"31.12.{year + 1}"

    assert points_expire_due(now=expires_at - timedelta(seconds=1)) == 0
    assert balance(membership) == 250
    assert points_expire_due(now=expires_at) == 250
    assert balance(membership) == 0
    assert_books_balance(membership)


def test_end_of_following_year_for_a_purchase_on_new_years_eve(program, membership, buy):
    program_set(program, expiry_policy=ExpiryPolicy.END_OF_FOLLOWING_YEAR)
    year = timezone.now().year - 2
    buy(membership, "10.00", occurred_at=datetime(year, 12, 31, 23, 30, tzinfo=BERLIN))
    lot = PointLot.objects.get(membership=membership)
    assert lot.expires_at == datetime(year + 1, 12, 31, 23, 59, 59, tzinfo=BERLIN)


def test_inactivity_lapses_all_points_after_n_months_without_activity(program, membership, buy):
    program_set(program, expiry_policy=ExpiryPolicy.INACTIVITY, expiry_months=12)
    now = timezone.now()
    buy(membership, "100.00", occurred_at=now - relativedelta(months=20))
    last = now - relativedelta(months=6)
    buy(membership, "50.00", occurred_at=last)
    assert PointLot.objects.filter(membership=membership, expires_at__isnull=False).count() == 0
    # the old lot is 20 months old, but the member was active 6 months ago: nothing lapses
    assert points_expire_due(now=now) == 0
    assert points_expire_due(now=last + relativedelta(months=12) - timedelta(seconds=1)) == 0
    assert balance(membership) == 150

    # twelve months after the last activity everything lapses, lot by lot
    assert points_expire_due(now=last + relativedelta(months=12, seconds=1)) == 150
    assert balance(membership) == 0
    assert membership.entries.filter(kind=EntryKind.EXPIRE).count() == 2
    assert_books_balance(membership)
    assert points_expire_due(now=last + relativedelta(months=13)) == 0


def test_inactivity_clock_is_reset_by_an_action(program, membership, buy, system):
    program_set(program, expiry_policy=ExpiryPolicy.INACTIVITY, expiry_months=12)
    ActionRule.objects.create(program=program, code="bag", name="Mehrwegtasche", points=5)
    now = timezone.now()
    buy(membership, "100.00", occurred_at=now - relativedelta(months=13))
    action_record(
        membership=membership,
        code="bag",
        reference="r1",
        actor=system,
        occurred_at=now - relativedelta(months=1),
    )
    assert points_expire_due(now=now) == 0
    assert balance(membership) == 105
    assert points_expire_due(now=now + relativedelta(months=11, days=1)) == 105


def test_never_policy_keeps_points(program, membership, buy):
    program_set(program, expiry_policy=ExpiryPolicy.NEVER)
    buy(membership, "100.00", occurred_at=timezone.now() - relativedelta(years=10))
    assert PointLot.objects.get(membership=membership).expires_at is None
    assert points_expire_due(now=timezone.now() + relativedelta(years=50)) == 0
    assert balance(membership) == 100
