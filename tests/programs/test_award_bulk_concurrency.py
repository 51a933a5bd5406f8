"""Bulk awards racing each other on real PostgreSQL: overlapping batches in concurrent
transactions award every purchase exactly once and leave the books balanced."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Count, Sum
from django.utils import timezone

from programs.models import EntryKind, LedgerEntry, Purchase, PurchaseStatus
from programs.services.memberships import membership_enroll
from programs.services.purchases import purchase_record, purchases_award
from programs.tasks import award_purchases_task
from tests.factories import CustomerFactory
from tests.programs.test_concurrency import assert_books_balance, no_errors, run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def backlog(program, partner, tiers, monkeypatch):
    """120 received purchases of 12 members (their own award messages dropped)."""
    monkeypatch.setattr(award_purchases_task, "delay", lambda ids: None)
    members = [membership_enroll(customer=CustomerFactory(), program=program)[0] for _ in range(12)]
    ids = []
    for n in range(120):
        purchase, _ = purchase_record(
            partner=partner,
            membership=members[n % 12],
            order_id=f"B{n}",
            amount=Decimal(15 + n % 40),
            currency="EUR",
            occurred_at=timezone.now() - timedelta(minutes=5),
        )
        ids.append(purchase.pk)
    return members, ids


def test_overlapping_batches_in_concurrent_workers_award_each_purchase_once(backlog):
    members, ids = backlog

    def work(i):
        rng = random.Random(i)
        mine = rng.sample(ids, 70)  # every pair of workers shares about half its batch
        return purchases_award(mine) + purchases_award(ids)

    outcomes = run_concurrently(4, work)

    no_errors(outcomes)
    assert sum(result for _, result in outcomes) == len(ids)
    assert Purchase.objects.filter(pk__in=ids, status=PurchaseStatus.AWARDED).count() == len(ids)
    per_purchase = (
        LedgerEntry.objects.filter(purchase__in=ids, kind=EntryKind.EARN)
        .values("purchase")
        .annotate(n=Count("id"))
    )
    assert {row["purchase"]: row["n"] for row in per_purchase} == dict.fromkeys(ids, 1)
    for membership in members:
        own = Purchase.objects.filter(membership=membership)
        membership.refresh_from_db()
        assert own.aggregate(total=Sum("points_awarded"))["total"] == membership.balance
    assert_books_balance(*members)


def test_the_same_batch_at_once_is_awarded_by_one_worker_only(backlog):
    """Copies of one message: the first to lock the memberships awards all, the rest none."""
    _, ids = backlog

    outcomes = run_concurrently(3, lambda i: purchases_award(ids))

    no_errors(outcomes)
    assert sorted(result for _, result in outcomes) == [0, 0, len(ids)]
