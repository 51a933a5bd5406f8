"""The expiry job against the other writers, with real threads on PostgreSQL: redemptions
of the same members (which expire their overdue lots first, one by one, with the same
keys) and another run of the job. Every writer locks memberships in id order, so nobody
deadlocks, each lot expires exactly once, and the books balance."""

import pytest
from django.db.models import Sum

from programs.models import EntryKind, LedgerEntry, Redemption
from programs.services import due
from programs.services.due import points_expire_due
from programs.services.rewards import reward_redeem
from tests.factories import RewardFactory
from tests.programs.bookkeeping import assert_books_balance
from tests.programs.test_concurrency import no_errors, run_concurrently
from tests.programs.test_expiry_bulk import members_with_old_and_new_lots

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_job_runs_and_redemptions_at_once_expire_each_lot_once(
    program, tiers, buy, system, monkeypatch
):
    memberships, now = members_with_old_and_new_lots(program, buy, 8)  # 30 due, 5 not each
    reward = RewardFactory(program=program, points_cost=5)
    redeemers = memberships[::-2]  # from the highest id down, against the job's order
    monkeypatch.setattr(due, "BATCH", 3)  # the job commits in several batches

    def work(i):
        if i < 2:
            return points_expire_due(now=now)
        return reward_redeem(membership=redeemers[i - 2], reward=reward, actor=system).pk

    outcomes = run_concurrently(2 + len(redeemers), work)

    no_errors(outcomes)
    expires = LedgerEntry.objects.filter(kind=EntryKind.EXPIRE)
    assert expires.count() == 8 * 2  # two due lots per member, each once
    assert expires.aggregate(total=Sum("points"))["total"] == -8 * 30
    assert Redemption.objects.count() == len(redeemers)
    for membership in memberships:
        membership.refresh_from_db()
        redemptions = Redemption.objects.filter(membership=membership).count()
        assert membership.balance == 5 - 5 * redemptions
        assert_books_balance(membership)
