"""The expiry job (set-based, many memberships per batch) writes exactly what expiring the
same lots one by one, membership by membership, writes: the same expire entries (points,
running balances, keys, reasons, times) in the same order per membership, the same
allocations, lots and balance caches. Checked on random members, lots, spends, policies
and batch sizes; then a second run changes nothing."""

from datetime import timedelta

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from programs.errors import LoyaltyError
from programs.models import (
    EntryKind,
    ExpiryPolicy,
    LedgerEntry,
    LotAllocation,
    Membership,
    PointLot,
    RedemptionOrder,
)
from programs.services import due
from programs.services.actions import points_adjust
from programs.services.ledger import lots_expire
from programs.services.locking import lock_membership
from programs.services.memberships import membership_enroll
from programs.services.rewards import reward_redeem
from tests.factories import CustomerFactory, RewardFactory, StaffFactory
from tests.programs.bookkeeping import assert_books_balance, program_set

POLICIES = st.sampled_from(
    [ExpiryPolicy.FIXED_PERIOD, ExpiryPolicy.END_OF_FOLLOWING_YEAR, ExpiryPolicy.INACTIVITY]
)
BUY = st.tuples(st.just("buy"), st.integers(0, 800), st.integers(1, 90))  # days ago, euros
STEP = st.one_of(  # one thing a member does, some days ago
    BUY,
    BUY,
    st.tuples(st.just("redeem"), st.integers(0, 800), st.sampled_from([5, 20, 45])),
    st.tuples(st.just("adjust"), st.integers(0, 800), st.integers(-30, 30).filter(bool)),
)


def expire_one_by_one(program, now) -> int:
    """The reference: per membership, under its own lock, ``lots_expire`` over its lots
    past their date, then (inactivity) over all its other available lots, each in id
    order, as the job finds them (dated lots first, then the inactive members')."""
    total = 0
    cutoff = now - relativedelta(months=program.expiry_months)
    for membership_id in Membership.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            membership = lock_membership(membership_id)
            live = PointLot.objects.filter(
                membership=membership,
                released_at__isnull=False,
                expired_at__isnull=True,
                remaining__gt=0,
            ).order_by("pk")
            total += lots_expire(membership, list(live.filter(expires_at__lte=now)), now)
            last_seen = membership.last_activity_at or membership.joined_at
            if program.expiry_policy == ExpiryPolicy.INACTIVITY and last_seen < cutoff:
                total += lots_expire(membership, list(live), now)
    return total


def books() -> dict:
    """Everything expiry writes, without the ids the two runs assign differently."""
    entries = {}
    for membership_id in Membership.objects.order_by("pk").values_list("pk", flat=True):
        entries[membership_id] = [
            (
                *row[1:],
                list(
                    LotAllocation.objects.filter(entry_id=row[0])
                    .order_by("lot_id")
                    .values_list("lot_id", "points")
                ),
            )
            for row in LedgerEntry.objects.filter(membership_id=membership_id)
            .order_by("pk")
            .values_list(
                "pk",
                "kind",
                "source",
                "points",
                "pending_points",
                "balance_after",
                "pending_after",
                "actor_type",
                "reason",
                "idempotency_key",
                "created_at",
            )
        ]
    return {
        "entries": entries,
        "lots": list(
            PointLot.objects.order_by("pk").values_list(
                "pk", "remaining", "expired_at", "released_at"
            )
        ),
        "memberships": list(
            Membership.objects.order_by("pk").values_list(
                "pk", "balance", "debt", "pending", "lifetime_earned"
            )
        ),
    }


def assert_the_job_matches_one_by_one(program, now, batch, monkeypatch) -> dict:
    """Expire one by one in a savepoint that is rolled back, then run the job from the
    same state: the same books. A second run of the job changes nothing."""
    with transaction.atomic():
        expected_total = expire_one_by_one(program, now)
        expected = books()
        transaction.set_rollback(True)

    monkeypatch.setattr(due, "BATCH", batch)  # members split across batches too
    assert due.points_expire_due(now=now) == expected_total
    assert books() == expected
    for membership in Membership.objects.all():
        assert_books_balance(membership)
    assert not PointLot.objects.filter(
        released_at__isnull=False, expired_at__isnull=True, remaining__gt=0, expires_at__lte=now
    ).exists()

    assert due.points_expire_due(now=now + timedelta(minutes=1)) == 0  # idempotent
    assert books() == expected
    assert LedgerEntry.objects.filter(kind=EntryKind.EXPIRE).count() == sum(
        1 for rows in expected["entries"].values() for row in rows if row[0] == EntryKind.EXPIRE
    )
    return expected


def test_pending_points_are_kept_and_shown_in_the_expire_entries(program, tiers, buy, monkeypatch):
    program_set(program, expiry_policy=ExpiryPolicy.FIXED_PERIOD, expiry_months=12, pending_days=30)
    today = timezone.now()
    memberships = []
    for _ in range(3):
        membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
        buy(membership, "40.00", occurred_at=today - relativedelta(months=14))
        buy(membership, "15.00", occurred_at=today - relativedelta(months=13))
        buy(membership, "10.00", occurred_at=today - timedelta(days=2))  # pending
        memberships.append(membership)

    expected = assert_the_job_matches_one_by_one(program, today, 2, monkeypatch)

    for membership in memberships:
        expires = [row for row in expected["entries"][membership.pk] if row[0] == "expire"]
        # (points, balance_after, pending_after) of each expire entry, oldest lot first
        assert [(row[2], row[4], row[5]) for row in expires] == [(-40, 15, 10), (-15, 0, 10)]
        membership.refresh_from_db()
        assert (membership.balance, membership.pending) == (0, 10)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    policy=POLICIES,
    months=st.integers(1, 24),
    order=st.sampled_from(list(RedemptionOrder)),
    pending_days=st.sampled_from([0, 30]),
    members=st.lists(st.lists(STEP, min_size=1, max_size=6), min_size=1, max_size=5),
    days_later=st.one_of(st.integers(0, 25), st.integers(26, 500)),  # some lots pending
    batch=st.integers(1, 7),
)
def test_the_job_writes_what_expiring_one_by_one_writes(
    program, tiers, buy, system, monkeypatch, policy, months, order, pending_days, members,
    days_later, batch,
):  # fmt: skip
    with transaction.atomic():  # each example starts from the same empty program
        program_set(
            program,
            expiry_policy=policy,
            expiry_months=months,
            redemption_order=order,
            pending_days=pending_days,
        )
        rewards = {cost: RewardFactory(program=program, points_cost=cost) for cost in (5, 20, 45)}
        staff = StaffFactory()
        today = timezone.now()
        for steps in members:
            membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
            for n, (action, days_ago, amount) in enumerate(sorted(steps, key=lambda s: -s[1])):
                at = today - timedelta(days=days_ago)
                try:
                    if action == "buy":
                        buy(membership, f"{amount}.00", occurred_at=at)
                    elif action == "redeem":
                        reward_redeem(membership=membership, reward=rewards[amount], actor=system)
                    else:
                        points_adjust(
                            membership=membership,
                            points=amount,
                            reason="test",
                            user=staff,
                            idempotency_key=f"adjust:{membership.pk}:{n}",
                        )
                except LoyaltyError:
                    pass  # not enough points: the member could not do it
        now = today + timedelta(days=days_later)
        due.points_release_due(now=now)
        assert_the_job_matches_one_by_one(program, now, batch, monkeypatch)
        transaction.set_rollback(True)
