"""Points given between members (``programs.services.transfers``): two entries in one
transaction, idempotent, within limits, reviewed when unusual, reversible by staff."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from dateutil.relativedelta import relativedelta
from django.db.models import Sum
from django.utils import timezone

from programs.errors import (
    IdempotencyConflict,
    InsufficientPoints,
    TransferLimitReached,
    TransferNotReversible,
    TransferRefused,
)
from programs.models import (
    EntryKind,
    LedgerEntry,
    Membership,
    PointLot,
    RedemptionOrder,
    ReturnPolicy,
    Transfer,
    TransferStatus,
)
from programs.services.due import ledger_drift
from programs.services.ledger import Actor
from programs.services.purchase_refunds import purchase_refund
from programs.services.rewards import reward_redeem
from programs.services.transfer_reviews import transfer_approve, transfer_reject, transfer_reverse
from programs.services.transfers import transfer_create, transfers_of
from tests.factories import RewardFactory, StaffFactory, enrolled, shared_account
from tests.programs.bookkeeping import program_set
from tests.programs.test_ledger_properties import lot_problems

pytestmark = pytest.mark.django_db


@pytest.fixture
def program(db):
    from tests.factories import ProgramFactory

    return ProgramFactory(
        transfers_enabled=True,
        transfer_min_age_days=30,
        transfer_daily_limit=1000,
        transfer_yearly_limit=3000,
        transfer_review_above=800,
    )


@pytest.fixture
def alice(program):
    return enrolled(program, days=60)


@pytest.fixture
def bob(program):
    return enrolled(program, days=60)


@pytest.fixture
def staff():
    return StaffFactory()


@pytest.fixture
def give(system):
    counter = {"n": 0}

    def _give(sender, recipient, points, *, key=None, **kwargs):
        counter["n"] += 1
        transfer, _created = transfer_create(
            sender=sender,
            recipient=recipient,
            points=points,
            key=key or f"t-{counter['n']}",
            actor=system,
            **kwargs,
        )
        return transfer

    return _give


def balance(membership: Membership) -> int:
    return Membership.objects.get(pk=membership.pk).balance


def books_balance(*memberships) -> None:
    assert ledger_drift([m.pk for m in memberships]) == []
    for membership in memberships:
        assert lot_problems(Membership.objects.get(pk=membership.pk)) == []


def test_a_transfer_is_two_entries_visible_to_both(alice, bob, buy, give):
    buy(alice, "500.00")
    transfer = give(alice, bob, 200, message="Happy birthday")

    assert transfer.status == TransferStatus.DONE
    assert transfer.done_at is not None
    assert (balance(alice), balance(bob)) == (300, 200)
    entries = LedgerEntry.objects.filter(idempotency_key__startswith=f"transfer:{transfer.pk}:")
    assert sorted(entries.values_list("membership", "kind", "points")) == sorted(
        [(alice.pk, EntryKind.TRANSFER_OUT, -200), (bob.pk, EntryKind.TRANSFER_IN, 200)]
    )
    assert entries.aggregate(total=Sum("points"))["total"] == 0
    assert list(transfers_of(alice)) == [transfer]
    assert list(transfers_of(bob)) == [transfer]
    books_balance(alice, bob)


def test_the_same_key_again_returns_the_same_transfer(alice, bob, buy, system):
    buy(alice, "500.00")
    first, created = transfer_create(sender=alice, recipient=bob, points=100, key="k", actor=system)
    again, created_again = transfer_create(
        sender=alice, recipient=bob, points=100, key="k", actor=system
    )
    assert (created, created_again) == (True, False)
    assert again.pk == first.pk
    assert (balance(alice), balance(bob)) == (400, 100)
    with pytest.raises(IdempotencyConflict):
        transfer_create(sender=alice, recipient=bob, points=101, key="k", actor=system)
    assert Transfer.objects.count() == 1
    assert (balance(alice), balance(bob)) == (400, 100)


def test_giving_more_than_is_available_is_refused(alice, bob, buy, give):
    buy(alice, "100.00")
    with pytest.raises(InsufficientPoints):
        give(alice, bob, 101)
    assert not Transfer.objects.exists()
    assert (balance(alice), balance(bob)) == (100, 0)


def test_limits_per_day_and_per_year(program, alice, bob, buy, give):
    program_set(program, transfer_review_above=5000)
    buy(alice, "5000.00")
    now = timezone.now()
    give(alice, bob, 700, now=now)
    with pytest.raises(TransferLimitReached):  # 700 + 400 > 1000 today
        give(alice, bob, 400, now=now)
    give(alice, bob, 300, now=now)  # exactly the day's limit
    with pytest.raises(TransferLimitReached):
        give(alice, bob, 1, now=now)
    assert balance(bob) == 1000

    # Next year, day after day: a new day's limit each day, and a new year's
    base = timezone.localtime(now).replace(year=now.year + 1, month=4, day=10, hour=12)
    for day in range(3):
        give(alice, bob, 1000, now=base + timedelta(days=day))
    with pytest.raises(TransferLimitReached):  # 3000 given this year
        give(alice, bob, 1, now=base + timedelta(days=3))
    assert balance(bob) == 4000


def test_a_waiting_transfer_counts_toward_the_limit(program, alice, bob, buy, give):
    program_set(program, transfer_review_above=500)
    buy(alice, "2000.00")
    waiting = give(alice, bob, 600)
    assert waiting.status == TransferStatus.REVIEW
    with pytest.raises(TransferLimitReached):
        give(alice, bob, 500)


def test_new_members_wait_before_giving_but_not_into_their_own_account(program, bob, buy, give):
    newcomer = enrolled(program, days=10)
    buy(newcomer, "100.00")
    with pytest.raises(TransferRefused):
        give(newcomer, bob, 10)
    account = shared_account(program, manager=newcomer)
    transfer = give(newcomer, account.holder, 40)
    assert transfer.status == TransferStatus.DONE
    assert balance(account.holder) == 40


def test_a_program_without_transfers_allows_giving_to_ones_own_account(
    program, alice, bob, buy, give
):
    program_set(program, transfers_enabled=False)
    buy(alice, "300.00")
    with pytest.raises(TransferRefused):
        give(alice, bob, 10)
    account = shared_account(program, manager=alice)
    transfer = give(alice, account.holder, 100)
    assert transfer.status == TransferStatus.DONE
    assert (balance(alice), balance(account.holder)) == (200, 100)
    with pytest.raises(TransferRefused):  # an account's points are not given away
        give(account.holder, alice, 10)


def test_a_large_transfer_waits_for_review_and_moves_on_approval(alice, bob, buy, give, staff):
    buy(alice, "2000.00")
    transfer = give(alice, bob, 900)
    assert transfer.status == TransferStatus.REVIEW
    assert "more than 800 points" in transfer.review_reasons[0]
    assert (balance(alice), balance(bob)) == (2000, 0)
    assert not LedgerEntry.objects.filter(kind=EntryKind.TRANSFER_OUT).exists()

    approved = transfer_approve(transfer=transfer, user=staff, note="known family")
    assert (approved.status, approved.reviewed_by) == (TransferStatus.DONE, staff)
    assert (balance(alice), balance(bob)) == (1100, 900)
    with pytest.raises(TransferRefused):  # once
        transfer_approve(transfer=transfer, user=staff)
    assert (balance(alice), balance(bob)) == (1100, 900)
    books_balance(alice, bob)


def test_approval_is_refused_when_the_sender_no_longer_has_the_points(
    alice, bob, buy, give, staff, system
):
    buy(alice, "1000.00")
    transfer = give(alice, bob, 900)
    reward_redeem(
        membership=alice,
        reward=RewardFactory(program=alice.program, points_cost=500),
        actor=system,
    )
    with pytest.raises(InsufficientPoints):
        transfer_approve(transfer=transfer, user=staff)
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.REVIEW
    assert (balance(alice), balance(bob)) == (500, 0)


def test_a_rejected_transfer_moves_nothing(alice, bob, buy, give, staff):
    buy(alice, "1000.00")
    transfer = give(alice, bob, 900)
    rejected = transfer_reject(transfer=transfer, user=staff, note="looks like fraud")
    assert rejected.status == TransferStatus.REJECTED
    assert (balance(alice), balance(bob)) == (1000, 0)
    with pytest.raises(TransferRefused):
        transfer_approve(transfer=transfer, user=staff)
    assert (balance(alice), balance(bob)) == (1000, 0)


def test_a_collecting_recipient_gets_reviewed(program, bob, buy, give):
    senders = [enrolled(program, days=60) for _ in range(4)]
    for sender in senders:
        buy(sender, "100.00")
    for sender in senders[:3]:
        assert give(sender, bob, 50).status == TransferStatus.DONE
    fourth = give(senders[3], bob, 50)
    assert fourth.status == TransferStatus.REVIEW
    assert "received from 3 other members" in fourth.review_reasons[0]
    assert balance(bob) == 150
    # a fellow member of one's own account is not a collector: no review
    shared_account(program, "household", manager=senders[3], member=[bob])
    assert give(senders[3], bob, 10).status == TransferStatus.DONE


def test_reversal_restores_the_senders_original_lots(alice, bob, buy, give, staff):
    buy(alice, "100.00", occurred_at=timezone.now() - relativedelta(months=6))
    buy(alice, "100.00")
    before = {
        lot.pk: (lot.remaining, lot.expires_at) for lot in PointLot.objects.filter(membership=alice)
    }
    buy(bob, "50.00")
    transfer = give(alice, bob, 150)

    reversed_ = transfer_reverse(transfer=transfer, user=staff, note="error")
    assert reversed_.status == TransferStatus.REVERSED
    assert reversed_.reversed_at is not None
    after = {
        lot.pk: (lot.remaining, lot.expires_at) for lot in PointLot.objects.filter(membership=alice)
    }
    assert after == before
    assert (balance(alice), balance(bob)) == (200, 50)
    with pytest.raises(TransferNotReversible):
        transfer_reverse(transfer=transfer, user=staff)
    assert (balance(alice), balance(bob)) == (200, 50)
    books_balance(alice, bob)


def test_reversal_is_refused_when_the_recipient_spent_the_points(
    alice, bob, buy, give, staff, system
):
    buy(alice, "300.00")
    transfer = give(alice, bob, 200)
    reward_redeem(
        membership=bob, reward=RewardFactory(program=bob.program, points_cost=150), actor=system
    )
    with pytest.raises(TransferNotReversible):
        transfer_reverse(transfer=transfer, user=staff)
    transfer.refresh_from_db()
    assert transfer.status == TransferStatus.DONE
    assert (balance(alice), balance(bob)) == (100, 50)


def test_reversal_takes_back_the_received_points_not_the_recipients_own(
    program, alice, bob, buy, give, staff
):
    program_set(program, redemption_order=RedemptionOrder.OLDEST_EARNED)
    buy(bob, "50.00", occurred_at=timezone.now() - relativedelta(months=1))
    own = PointLot.objects.get(membership=bob)
    buy(alice, "100.00", occurred_at=timezone.now() - relativedelta(months=23))
    transfer = give(alice, bob, 100)  # a lot expiring in about a month

    transfer_reverse(transfer=transfer, user=staff)
    own.refresh_from_db()
    assert own.remaining == 50  # bob keeps his own points, with their own expiry
    received = PointLot.objects.get(membership=bob, earn_entry__kind=EntryKind.TRANSFER_IN)
    assert received.remaining == 0
    books_balance(alice, bob)


def test_the_received_lot_expires_with_the_earliest_lot_given(alice, bob, buy, give):
    old_purchase = timezone.now() - relativedelta(months=20)
    buy(alice, "100.00", occurred_at=old_purchase)
    buy(alice, "100.00")
    lots = PointLot.objects.filter(membership=alice).order_by("earned_at")
    earliest = lots[0].expires_at
    assert earliest < lots[1].expires_at

    give(alice, bob, 150)
    received = PointLot.objects.get(membership=bob)
    assert received.points == 150
    assert received.expires_at == earliest  # not two years from today


def test_lapsed_points_are_not_given(alice, bob, buy, give):
    buy(alice, "100.00")  # expires after 24 months
    later = timezone.now() + relativedelta(months=25)
    with mock.patch.object(timezone, "now", return_value=later), pytest.raises(InsufficientPoints):
        give(alice, bob, 50)
    assert balance(bob) == 0
    assert not PointLot.objects.filter(membership=bob).exists()


def test_a_recipients_debt_is_paid_first(program, alice, bob, buy, give, system):
    program_set(program, return_policy=ReturnPolicy.ALLOW_NEGATIVE)
    purchase = buy(bob, "80.00")
    reward_redeem(
        membership=bob, reward=RewardFactory(program=program, points_cost=80), actor=system
    )
    purchase_refund(purchase=purchase, refund_id="r", amount=Decimal("80.00"), actor=system)
    assert Membership.objects.get(pk=bob.pk).debt == 80

    buy(alice, "200.00")
    give(alice, bob, 100)
    bob = Membership.objects.get(pk=bob.pk)
    assert (bob.balance, bob.debt) == (20, 0)
    books_balance(alice, bob)


def test_a_member_in_debt_cannot_give(program, alice, bob, buy, give, system):
    program_set(program, return_policy=ReturnPolicy.ALLOW_NEGATIVE)
    purchase = buy(alice, "80.00")
    reward_redeem(
        membership=alice, reward=RewardFactory(program=program, points_cost=80), actor=system
    )
    purchase_refund(purchase=purchase, refund_id="r", amount=Decimal("80.00"), actor=system)
    with pytest.raises(InsufficientPoints):
        give(alice, bob, 1)


def test_staff_actor_is_recorded(alice, bob, buy, staff):
    buy(alice, "100.00")
    transfer, _ = transfer_create(
        sender=alice, recipient=bob, points=10, key="s", actor=Actor.for_staff(staff)
    )
    assert transfer.requested_by == staff
