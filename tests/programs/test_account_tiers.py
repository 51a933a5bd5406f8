"""A shared account's tier (``programs.services.account_tiers``): earned by the account's
own purchases where the program pools, by the members' combined spend where it does not;
every current member enjoys at least it, and loses it on leaving."""

import pytest

from programs.models import AccountKind, Membership, TierChange, TierChangeReason
from programs.notifications.tasks import check_tier_progress_task
from programs.services.account_tiers import (
    account_tier_refresh,
    account_tiers_refresh_all,
    accounts_of,
)
from programs.services.accounts import account_close, account_member_add, account_member_leave
from tests.factories import enrolled, shared_account
from tests.programs.bookkeeping import program_set

pytestmark = pytest.mark.django_db


def fresh(membership: Membership) -> Membership:
    return Membership.objects.select_related("tier").get(pk=membership.pk)


def test_pooled_members_enjoy_the_account_tier_after_earning(program, tiers, buy):
    first, second = enrolled(program), enrolled(program)
    account = shared_account(program, AccountKind.BUSINESS, buyer=[first, second])
    buy(fresh(first), "800.00")
    buy(fresh(second), "800.00")
    assert fresh(account.holder).tier == tiers["Gold"]  # 1,600 spent together
    assert fresh(first).tier == tiers["Bronze"]  # not handed on yet

    check_tier_progress_task([account.holder_id])  # as after the award's commit

    for member in (first, second, account.members.get(role="owner").membership):
        member = fresh(member)
        assert (member.account_tier, member.tier) == (tiers["Gold"], tiers["Gold"])
        change = TierChange.objects.filter(membership=member).latest("created_at")
        assert (change.reason, change.to_tier) == (TierChangeReason.ACCOUNT, tiers["Gold"])


def test_an_award_batch_refreshes_each_account_once(program, tiers):
    """The batch names the holder and both buyers: the account is refreshed once, not
    once per member (the members' join order used to make the rows distinct)."""
    first, second = enrolled(program), enrolled(program)
    account = shared_account(program, AccountKind.BUSINESS, buyer=[first, second])
    other = shared_account(program, AccountKind.BUSINESS, buyer=[enrolled(program)])
    batch = [first.pk, second.pk, account.holder_id, enrolled(program).pk]
    assert accounts_of(batch) == [account.pk]
    assert sorted(accounts_of([*batch, other.holder_id])) == sorted([account.pk, other.pk])


def test_a_member_who_leaves_falls_back_to_their_own_tier(program, tiers, buy):
    buyer = enrolled(program)
    account = shared_account(program, AccountKind.BUSINESS, buyer=[buyer])
    buy(fresh(buyer), "1600.00")
    account_tier_refresh(account.pk)
    assert fresh(buyer).tier == tiers["Gold"]

    account_member_leave(member=account.members.get(membership=buyer))

    buyer = fresh(buyer)
    assert (buyer.account_tier, buyer.tier) == (None, tiers["Bronze"])


def test_a_new_member_gets_the_account_tier_at_once(program, tiers, buy):
    buyer = enrolled(program)
    account = shared_account(program, AccountKind.BUSINESS, buyer=[buyer])
    buy(fresh(buyer), "600.00")
    assert fresh(account.holder).tier == tiers["Silber"]

    newcomer = enrolled(program)
    account_member_add(account=account, membership=newcomer, role="viewer")

    assert fresh(newcomer).tier == tiers["Silber"]


def test_without_pooling_the_account_tier_comes_from_the_combined_spend(program, tiers, buy):
    program_set(program, accounts_pool=False)
    first, second = enrolled(program), enrolled(program)
    account = shared_account(program, AccountKind.HOUSEHOLD, member=[first, second])
    buy(fresh(first), "900.00")
    buy(fresh(second), "700.00")
    # each on their own: Silber; the balances stay their own
    assert fresh(first).tier == fresh(second).tier == tiers["Silber"]
    assert (fresh(first).balance, fresh(second).balance) == (900, 700)

    assert account_tiers_refresh_all() >= 2

    assert fresh(account.holder).tier == tiers["Gold"]  # 1,600 together
    assert fresh(first).tier == fresh(second).tier == tiers["Gold"]
    assert fresh(account.holder).balance == 0


def test_without_pooling_a_member_who_leaves_no_longer_counts(program, tiers, buy):
    program_set(program, accounts_pool=False)
    first, second = enrolled(program), enrolled(program)
    account = shared_account(program, AccountKind.HOUSEHOLD, member=[first, second])
    buy(fresh(first), "1000.00")
    account_member_leave(member=account.members.get(membership=first))
    buy(fresh(second), "600.00")

    account_tier_refresh(account.pk)

    # the account counts only the current members' spend: 600, not 1,600
    assert fresh(account.holder).tier == tiers["Silber"]
    assert fresh(second).tier == tiers["Silber"]
    assert fresh(first).tier == tiers["Silber"]  # their own 1,000


def test_closing_takes_the_account_tier_from_everyone(program, tiers, buy, system):
    buyer = enrolled(program)
    account = shared_account(program, AccountKind.BUSINESS, buyer=[buyer])
    buy(fresh(buyer), "1600.00")
    account_tier_refresh(account.pk)
    assert fresh(buyer).tier == tiers["Gold"]

    account_close(account=account, actor=system)

    assert (fresh(buyer).account_tier, fresh(buyer).tier) == (None, tiers["Bronze"])
