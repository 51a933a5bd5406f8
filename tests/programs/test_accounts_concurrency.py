"""One pooled balance under concurrent load: real PostgreSQL, real threads, real
transactions (``test_concurrency.run_concurrently``). Redemptions from the pool by
several members, transfers into it from the members' own balances and purchases pooled
into it never overdraw it, never lose a point, and a buyer's monthly limit holds."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from programs.errors import AccountRedemptionLimit, InsufficientPoints
from programs.models import (
    AccountRole,
    EntryKind,
    LedgerEntry,
    Membership,
    Purchase,
    Redemption,
    Transfer,
    TransferStatus,
)
from programs.services.accounts import account_member_update
from programs.services.purchases import purchase_record
from programs.services.rewards import reward_redeem
from programs.services.transfers import transfer_create
from tests.factories import RewardFactory, enrolled, shared_account
from tests.programs.test_concurrency import (
    assert_books_balance,
    errors_of,
    no_errors,
    only_domain_errors,
    results_of,
    run_concurrently,
)

pytestmark = [pytest.mark.django_db(transaction=True)]

THREADS = 30


def balance(membership: Membership) -> int:
    return Membership.objects.get(pk=membership.pk).balance


@pytest.fixture
def pool(program, buy):
    """A business account whose owner and nine buyers each have 100 points of their own
    (from before they joined) and whose pool holds 600 points."""
    people = [enrolled(program) for _ in range(10)]
    for person in people:
        buy(person, "100.00")
    account = shared_account(program, manager=people[0], buyer=people[1:])
    buy(Membership.objects.get(pk=people[1].pk), "600.00")  # pooled
    assert balance(account.holder) == 600
    return account, people


def test_transfers_in_and_redemptions_out_never_overdraw_the_pool(pool, system):
    account, people = pool
    reward = RewardFactory(program=account.program, points_cost=70, stock=None)
    holder = account.holder

    def work(i: int):
        if i < 10:  # each member gives 50 of their own points to the pool
            transfer, _ = transfer_create(
                sender=people[i], recipient=holder, points=50, key=f"in-{i}", actor=system
            )
            return ("transfer", transfer.pk)
        redemption = reward_redeem(
            membership=holder, reward=reward, actor=system, by=people[i % 10]
        )
        return ("redemption", redemption.pk)

    outcomes = run_concurrently(THREADS, work)

    only_domain_errors(outcomes, InsufficientPoints)
    done = results_of(outcomes)
    transfers = [pk for what, pk in done if what == "transfer"]
    redeemed = [pk for what, pk in done if what == "redemption"]
    assert len(transfers) == 10, f"transfers refused: {errors_of(outcomes)}"
    assert Transfer.objects.filter(status=TransferStatus.DONE, recipient=holder).count() == 10
    supply = 600 + 10 * 50
    assert len(redeemed) * 70 <= supply  # 20 wanted 1,400 of 1,100
    assert len(redeemed) + len(errors_of(outcomes)) == 20
    assert len(redeemed) >= 600 // 70  # the first 600 always cover eight
    assert balance(holder) == supply - 70 * len(redeemed) >= 0
    assert Redemption.objects.filter(membership=holder).count() == len(redeemed)
    for person in people:
        assert balance(person) == 50
    assert_books_balance(holder, *people)


def test_many_redemptions_compete_for_a_pool_that_covers_some(pool, system):
    account, people = pool
    reward = RewardFactory(program=account.program, points_cost=70, stock=None)
    affordable, remainder = divmod(600, 70)  # eight redemptions, 40 points left

    outcomes = run_concurrently(
        THREADS,
        lambda i: (
            reward_redeem(
                membership=account.holder, reward=reward, actor=system, by=people[i % 10]
            ).pk
        ),
    )

    only_domain_errors(outcomes, InsufficientPoints)
    assert len(results_of(outcomes)) == affordable
    assert len(errors_of(outcomes)) == THREADS - affordable
    holder = Membership.objects.get(pk=account.holder_id)
    assert (holder.balance, holder.debt) == (remainder, 0)
    assert LedgerEntry.objects.filter(membership=holder, kind=EntryKind.REDEEM).count() == (
        affordable
    )
    assert_books_balance(holder, *people)


def test_a_buyers_monthly_limit_holds_under_concurrent_redemptions(pool, system):
    account, people = pool
    buyer = people[1]
    member = account.members.get(membership=buyer, left_at=None)
    assert member.role == AccountRole.BUYER
    account_member_update(member=member, monthly_limit=300)
    reward = RewardFactory(program=account.program, points_cost=70, stock=None)

    outcomes = run_concurrently(
        THREADS,
        lambda i: (
            reward_redeem(membership=account.holder, reward=reward, actor=system, by=buyer).pk
        ),
    )

    only_domain_errors(outcomes, AccountRedemptionLimit)
    assert len(results_of(outcomes)) == 4  # 280 of 300
    assert Redemption.objects.filter(placed_by=buyer).count() == 4
    assert balance(account.holder) == 600 - 280
    assert_books_balance(account.holder, *people)


def test_simultaneous_pooled_purchases_all_earn_into_the_pool(pool, partner):
    account, people = pool
    at = timezone.now() - timedelta(minutes=1)

    def work(i: int):
        purchase, _ = purchase_record(
            partner=partner,
            membership=Membership.objects.get(pk=people[i % 10].pk),
            order_id=f"c-{i}",
            amount=Decimal("10.00"),
            currency="EUR",
            occurred_at=at,
            award_now=True,
        )
        return purchase.pk

    outcomes = run_concurrently(THREADS, work)

    no_errors(outcomes)
    purchases = Purchase.objects.filter(order_id__startswith="c-")
    assert purchases.filter(membership=account.holder, status="awarded").count() == THREADS
    assert balance(account.holder) == 600 + THREADS * 10
    for person in people:
        assert balance(person) == 100
    assert_books_balance(account.holder, *people)
