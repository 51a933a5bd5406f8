"""Correctness under concurrency: real PostgreSQL, real threads, real transactions.

Every worker thread opens its own connection, waits at a barrier so all of them hit the
database at once, and closes its connection when done. Each connection gets a lock and a
statement timeout, so a deadlock or a lost lock fails the test in seconds instead of
hanging it (PostgreSQL also aborts a real deadlock cycle after ``deadlock_timeout``).
"""

import random
import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from programs.errors import InsufficientPoints, LoyaltyError, OutOfStock, RefundExceedsPurchase
from programs.models import (
    EntryKind,
    LedgerEntry,
    Purchase,
    PurchaseStatus,
    Redemption,
    RedemptionStatus,
    Refund,
    ReturnPolicy,
)
from programs.services.due import ledger_drift, points_expire_due, points_release_due
from programs.services.memberships import membership_enroll
from programs.services.purchase_refunds import RefundLine, purchase_refund
from programs.services.purchases import purchase_record, purchases_award
from programs.services.rewards import redemption_cancel, reward_redeem
from programs.tasks import award_purchases_task
from tests.factories import CustomerFactory, RewardFactory
from tests.programs.test_ledger_properties import lot_problems

pytestmark = [pytest.mark.django_db(transaction=True)]

JOIN_TIMEOUT = 60


def run_concurrently(count: int, work) -> list[tuple[str, object]]:
    """Run ``work(i)`` in ``count`` threads started together. Returns per thread
    ``("ok", result)`` or ``("error", exception)``."""
    barrier = threading.Barrier(count)
    outcomes: list[tuple[str, object]] = [("missing", None)] * count

    def worker(i: int) -> None:
        try:
            with connection.cursor() as cursor:  # connect before the barrier
                cursor.execute("SET lock_timeout = '5s'")
                cursor.execute("SET statement_timeout = '20s'")
            barrier.wait(timeout=JOIN_TIMEOUT)
            outcomes[i] = ("ok", work(i))
        except Exception as exc:  # recorded, asserted on by the test
            outcomes[i] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_TIMEOUT)
    hung = [t.name for t in threads if t.is_alive()]
    assert not hung, f"threads still blocked after {JOIN_TIMEOUT}s (deadlock?): {hung}"
    return outcomes


def errors_of(outcomes) -> list[BaseException]:
    return [value for status, value in outcomes if status == "error"]


def results_of(outcomes) -> list:
    return [value for status, value in outcomes if status == "ok"]


def summary(errors) -> dict[str, int]:
    """Errors counted by type and first line, short enough to read in a failure."""
    return dict(Counter(f"{type(e).__name__}: {str(e).splitlines()[0][:120]}" for e in errors))


def only_domain_errors(outcomes, *allowed: type[LoyaltyError]) -> None:
    unexpected = [e for e in errors_of(outcomes) if not isinstance(e, allowed or LoyaltyError)]
    assert not unexpected, f"unexpected errors: {summary(unexpected)}"


def no_errors(outcomes) -> None:
    assert not errors_of(outcomes), f"errors: {summary(errors_of(outcomes))}"


def assert_books_balance(*memberships) -> None:
    assert ledger_drift() == []
    for membership in memberships:
        membership.refresh_from_db()
        assert lot_problems(membership) == []


@pytest.fixture
def member(program):
    """A member without tiers, so every euro earns exactly one point."""
    membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
    return membership


@pytest.fixture
def enqueued(monkeypatch):
    """Capture award tasks instead of running them eagerly, so purchases stay received."""
    calls: list[list[int]] = []
    monkeypatch.setattr(award_purchases_task, "delay", lambda ids: calls.append(list(ids)))
    return calls


def test_concurrent_redemptions_never_overdraw(member, buy, system):
    for _ in range(5):  # 1250 points in five lots: redemptions cross lot boundaries
        buy(member, "250.00")
    reward = RewardFactory(program=member.program, points_cost=70, stock=None)
    affordable, remainder = divmod(1250, 70)  # 17 redemptions, 60 points left

    outcomes = run_concurrently(
        50, lambda i: reward_redeem(membership=member, reward=reward, actor=system).pk
    )

    only_domain_errors(outcomes, InsufficientPoints)
    assert len(results_of(outcomes)) == affordable
    assert len(errors_of(outcomes)) == 50 - affordable
    member.refresh_from_db()
    assert member.balance == remainder
    assert member.debt == 0
    assert Redemption.objects.filter(membership=member).count() == affordable
    assert LedgerEntry.objects.filter(membership=member, kind=EntryKind.REDEEM).count() == (
        affordable
    )
    assert_books_balance(member)


def test_reward_stock_is_never_oversold(program, buy, system):
    stock, members = 7, []
    for _ in range(30):
        membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
        buy(membership, "100.00")
        members.append(membership)
    reward = RewardFactory(program=program, points_cost=100, stock=stock)

    outcomes = run_concurrently(
        len(members),
        lambda i: reward_redeem(membership=members[i], reward=reward, actor=system).pk,
    )

    only_domain_errors(outcomes, OutOfStock)
    assert len(results_of(outcomes)) == stock
    assert len(errors_of(outcomes)) == len(members) - stock
    reward.refresh_from_db()
    assert reward.stock == 0
    assert reward.redemptions.count() == stock
    balances = Counter(m.balance for m in type(members[0]).objects.filter(program=program))
    assert balances == {0: stock, 100: len(members) - stock}
    assert_books_balance(*members)


def test_same_purchase_submitted_concurrently_earns_once(member, partner, enqueued):
    def submit(i):
        purchase, created = purchase_record(
            partner=partner,
            membership=member,
            order_id="ORDER-RACE-1",
            amount=Decimal("80.00"),
            currency="EUR",
            occurred_at=timezone.now() - timedelta(minutes=1),
            award_now=False,
        )
        return purchase.pk, created, purchases_award([purchase.pk])

    outcomes = run_concurrently(20, submit)

    no_errors(outcomes)
    results = results_of(outcomes)
    assert len({pk for pk, _, _ in results}) == 1
    assert sum(created for _, created, _ in results) == 1
    assert sum(processed for _, _, processed in results) == 1
    assert len(enqueued) == 1  # only the thread that stored it enqueues the award
    purchase = Purchase.objects.get()
    assert purchase.status == PurchaseStatus.AWARDED
    assert purchase.points_awarded == 80
    assert LedgerEntry.objects.filter(purchase=purchase, kind=EntryKind.EARN).count() == 1
    member.refresh_from_db()
    assert member.balance == 80
    assert_books_balance(member)


def test_concurrent_awards_of_received_purchases_award_each_once(program, partner, enqueued):
    members = [membership_enroll(customer=CustomerFactory(), program=program)[0] for _ in range(3)]
    ids = []
    for n, membership in enumerate(members * 2):
        purchase, _ = purchase_record(
            partner=partner,
            membership=membership,
            order_id=f"RECEIVED-{n}",
            amount=Decimal("10.00") * (n + 1),
            currency="EUR",
            occurred_at=timezone.now() - timedelta(minutes=1),
        )
        ids.append(purchase.pk)
    assert Purchase.objects.filter(status=PurchaseStatus.RECEIVED).count() == 6

    def award(i):
        batch = random.Random(i).sample(ids, k=len(ids))  # every order of the same ids
        return purchases_award(batch)

    outcomes = run_concurrently(20, award)

    no_errors(outcomes)
    assert sum(results_of(outcomes)) == 6
    assert not Purchase.objects.exclude(status=PurchaseStatus.AWARDED).exists()
    earns = LedgerEntry.objects.filter(kind=EntryKind.EARN, purchase_id__in=ids)
    assert sorted(earns.values_list("purchase_id", flat=True)) == sorted(ids)
    for membership in members:
        membership.refresh_from_db()
    assert [m.balance for m in members] == [10 + 40, 20 + 50, 30 + 60]
    assert_books_balance(*members)


def test_concurrent_refunds_never_exceed_the_purchase(member, buy, system):
    purchase = buy(member, "100.00")

    outcomes = run_concurrently(
        20,
        lambda i: purchase_refund(
            purchase=purchase, refund_id=f"R-{i}", amount=Decimal("15.00"), actor=system
        )[1],
    )

    only_domain_errors(outcomes, RefundExceedsPurchase)
    assert results_of(outcomes) == [True] * 6  # 6 x 15.00 fit into 100.00, a 7th does not
    assert len(errors_of(outcomes)) == 14
    purchase.refresh_from_db()
    assert purchase.refunded_amount == Decimal("90.00")
    assert purchase.points_reversed == 90
    assert Refund.objects.filter(purchase=purchase).count() == 6
    member.refresh_from_db()
    assert member.balance == 10
    assert_books_balance(member)


def test_same_refund_id_concurrently_refunds_once(member, buy, system):
    purchase = buy(
        member,
        "100.00",
        lines=[{"sku": "A", "category": "x", "quantity": 4, "unit_price": Decimal("25.00")}],
    )

    outcomes = run_concurrently(
        20,
        lambda i: purchase_refund(
            purchase=purchase, refund_id="R-SAME", lines=[RefundLine(1, 1)], actor=system
        ),
    )

    no_errors(outcomes)
    results = results_of(outcomes)
    assert sum(created for _, created in results) == 1
    assert len({refund.pk for refund, _ in results}) == 1
    purchase.refresh_from_db()
    assert purchase.refunded_amount == Decimal("25.00")
    assert purchase.lines.get().refunded_quantity == 1
    member.refresh_from_db()
    assert member.balance == 75
    assert LedgerEntry.objects.filter(purchase=purchase, kind=EntryKind.REVERSE).count() == 1
    assert_books_balance(member)


@pytest.mark.parametrize(
    "return_policy",
    [ReturnPolicy.PENDING_ONLY, ReturnPolicy.WITHIN_AVAILABLE, ReturnPolicy.ALLOW_NEGATIVE],
)
def test_mixed_earn_redeem_refund_cancel_do_not_deadlock(
    program, partner, buy, system, enqueued, return_policy
):
    """Awards (one member's and both members' in one call), redemptions, cancellations,
    refunds and the release/expiry jobs, all at once on two members sharing a stocked
    reward: no deadlock, no drift, lots consistent, stock and refunds within bounds."""
    program.return_policy = return_policy
    program.expiry_months = 1  # the opening lots lapse when a job looks 40 days ahead
    program.save(update_fields=["return_policy", "expiry_months"])
    alice, _ = membership_enroll(customer=CustomerFactory(), program=program)
    bob, _ = membership_enroll(customer=CustomerFactory(), program=program)
    earlier = {
        m.pk: [
            buy(
                m,
                "60.00",
                lines=[
                    {"sku": f"S{n}", "category": "x", "quantity": 3, "unit_price": Decimal("20.00")}
                ],
            )
            for n in range(4)
        ]
        for m in (alice, bob)
    }
    program.pending_days = 14  # what is earned from now on is pending until a job releases it
    program.save(update_fields=["pending_days"])
    cheap = RewardFactory(program=program, points_cost=30, stock=None)
    scarce = RewardFactory(program=program, points_cost=45, stock=5)
    both = [alice, bob]

    def work(i):
        rng = random.Random(i)
        me = both[i % 2]
        done = Counter()
        for step in range(6):
            op = rng.choice(["earn", "redeem", "refund", "cancel", "award_both", "jobs"])
            try:
                if op == "earn":
                    purchase_record(
                        partner=partner,
                        membership=me,
                        order_id=f"T{i}-{step}",
                        amount=Decimal(rng.randint(5, 90)),
                        currency="EUR",
                        occurred_at=timezone.now() - timedelta(minutes=1),
                        award_now=True,
                    )
                elif op == "redeem":
                    reward = rng.choice([cheap, scarce])
                    reward_redeem(membership=me, reward=reward, actor=system)
                elif op == "refund":
                    purchase = rng.choice(earlier[me.pk])
                    if rng.random() < 0.5:
                        purchase_refund(
                            purchase=purchase,
                            refund_id=f"T{i}-{step}",
                            lines=[RefundLine(1, 1)],
                            actor=system,
                        )
                    else:
                        purchase_refund(
                            purchase=purchase,
                            refund_id=f"T{i}-{step}",
                            amount=Decimal("7.50"),
                            actor=system,
                        )
                elif op == "cancel":
                    issued = Redemption.objects.filter(status=RedemptionStatus.ISSUED).first()
                    if issued is not None:
                        redemption_cancel(redemption=issued, actor=system)
                elif op == "award_both":
                    purchase_record(
                        partner=partner,
                        membership=both[(i + 1) % 2],
                        order_id=f"T{i}-{step}",
                        amount=Decimal("12.00"),
                        currency="EUR",
                        occurred_at=timezone.now() - timedelta(minutes=1),
                    )
                    purchases_award(
                        list(
                            Purchase.objects.filter(status=PurchaseStatus.RECEIVED)
                            .order_by("-pk")
                            .values_list("pk", flat=True)
                        )
                    )
                else:
                    points_release_due(now=timezone.now() + timedelta(days=20))
                    days = rng.choice([20, 20, 40])
                    points_expire_due(now=timezone.now() + timedelta(days=days))
                done[op] += 1
            except LoyaltyError:
                done[f"{op}:refused"] += 1
        return done

    outcomes = run_concurrently(24, work)

    no_errors(outcomes)
    done = sum(results_of(outcomes), Counter())
    assert all(done[op] > 0 for op in ["earn", "redeem", "refund", "award_both", "jobs"]), done
    assert not Purchase.objects.filter(status=PurchaseStatus.RECEIVED).exists()
    scarce.refresh_from_db()
    live = scarce.redemptions.exclude(status=RedemptionStatus.CANCELLED).count()
    assert scarce.stock >= 0
    assert scarce.stock + live == 5
    for purchases in earlier.values():
        for purchase in purchases:
            purchase.refresh_from_db()
            refunds = sum(purchase.refunds.values_list("amount", flat=True), Decimal(0))
            assert purchase.refunded_amount == refunds <= purchase.amount
    assert_books_balance(alice, bob)
