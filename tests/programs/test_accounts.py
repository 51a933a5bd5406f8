"""Shared accounts (``programs.services.accounts``): kinds and roles, pooling purchases
into the account's balance and tier, purchase order numbers, leaving, invitations,
redeeming from the pool by role and monthly limit, and closing."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from dateutil.relativedelta import relativedelta
from django.utils import timezone

from customers.models import CustomerKind
from programs.errors import (
    AccountClosed,
    AccountMembershipConflict,
    AccountNotSettled,
    AccountRedemptionLimit,
    AccountRoleRefused,
    InsufficientPoints,
    InvitationClosed,
    PurchaseOrderMissing,
    TransferNotReversible,
)
from programs.models import (
    AccountKind,
    AccountMember,
    AccountRole,
    AccountStatus,
    EntryKind,
    InvitationStatus,
    LedgerEntry,
    Membership,
    MembershipStatus,
    PointLot,
    Purchase,
    ReturnPolicy,
    Transfer,
    TransferStatus,
)
from programs.services.account_invitations import (
    account_invite,
    invitation_accept,
    invitation_decline,
    invitation_revoke,
)
from programs.services.accounts import (
    account_close,
    account_create,
    account_member_add,
    account_member_leave,
    account_member_update,
)
from programs.services.due import ledger_drift
from programs.services.holds import hold_place
from programs.services.purchase_refunds import purchase_refund
from programs.services.purchases import purchases_award
from programs.services.purchases_batch import PurchaseItem, purchases_record_many
from programs.services.rewards import redemption_cancel, reward_redeem
from programs.services.transfer_reviews import transfer_reverse
from programs.tasks import sweep_account_invitations_task
from tests.factories import (
    CustomerFactory,
    RewardFactory,
    StaffFactory,
    enrolled,
    shared_account,
)
from tests.programs.bookkeeping import program_set
from tests.programs.test_ledger_properties import lot_problems

pytestmark = pytest.mark.django_db


def fresh(membership: Membership) -> Membership:
    return Membership.objects.select_related("tier").get(pk=membership.pk)


def member_row(account, membership) -> AccountMember:
    return AccountMember.objects.get(account=account, membership=membership, left_at=None)


@pytest.fixture
def buyers(program, tiers):
    return enrolled(program), enrolled(program)


@pytest.fixture
def business(program, buyers):
    return shared_account(program, AccountKind.BUSINESS, buyer=list(buyers))


def books_balance(*memberships) -> None:
    assert ledger_drift([m.pk for m in memberships]) == []
    for membership in memberships:
        assert lot_problems(fresh(membership)) == []


# --- kinds and roles ---------------------------------------------------------------------


def test_a_business_account_has_its_own_holder_and_the_owner(program, tiers):
    owner = enrolled(program)
    account = account_create(
        program=program,
        kind=AccountKind.BUSINESS,
        name=" Müller GmbH ",
        manager=owner,
        vat_id="DE123456789",
        city="Köln",
        requires_po_reference=True,
    )
    assert account.name == "Müller GmbH"
    assert (account.vat_id, account.city, account.requires_po_reference) == (
        "DE123456789",
        "Köln",
        True,
    )
    holder = fresh(account.holder)
    assert holder.program == program
    assert holder.customer.kind == CustomerKind.SHARED
    assert not holder.customer.email
    assert holder.pk != owner.pk
    assert holder.tier == tiers["Bronze"]
    assert member_row(account, owner).role == AccountRole.OWNER
    assert fresh(owner).pool_id == holder.pk


def test_a_household_has_a_head_and_no_business_data(program):
    head = enrolled(program)
    account = account_create(
        program=program,
        kind=AccountKind.HOUSEHOLD,
        name="Familie Schmidt",
        manager=head,
        vat_id="DE123456789",
        requires_po_reference=True,
    )
    assert member_row(account, head).role == AccountRole.HEAD
    assert account.vat_id == ""
    assert not account.requires_po_reference


@pytest.mark.parametrize(
    ("kind", "allowed", "refused"),
    [
        (AccountKind.BUSINESS, [AccountRole.BUYER, AccountRole.VIEWER], AccountRole.HEAD),
        (AccountKind.HOUSEHOLD, [AccountRole.MEMBER], AccountRole.BUYER),
    ],
)
def test_each_kind_has_its_own_roles(program, kind, allowed, refused):
    account = shared_account(program, kind)
    for role in allowed:
        member = account_member_add(account=account, membership=enrolled(program), role=role)
        assert member.role == role
    outsider = enrolled(program)
    with pytest.raises(AccountRoleRefused):
        account_member_add(account=account, membership=outsider, role=refused)
    assert not AccountMember.objects.filter(membership=outsider).exists()
    with pytest.raises(AccountRoleRefused):
        account_member_update(member=member, role=refused)
    with pytest.raises(AccountRoleRefused):
        account_invite(account=account, email="x@example.com", role=refused)


def test_a_member_belongs_to_one_account_and_an_account_joins_none(program):
    member = enrolled(program)
    first = shared_account(program, buyer=[member])
    second = shared_account(program)
    with pytest.raises(AccountMembershipConflict):
        account_member_add(account=second, membership=member, role=AccountRole.BUYER)
    with pytest.raises(AccountMembershipConflict):
        account_member_add(account=second, membership=first.holder, role=AccountRole.BUYER)
    assert fresh(member).pool_id == first.holder_id


# --- pooling --------------------------------------------------------------------------


def test_pooled_purchases_land_on_the_holder_and_reach_its_tier(business, buyers, buy, tiers):
    first, second = buyers
    p1 = buy(first, "300.00")
    p2 = buy(second, "300.00")

    holder = fresh(business.holder)
    for purchase, buyer in ((p1, first), (p2, second)):
        purchase.refresh_from_db()
        assert purchase.membership_id == holder.pk
        assert purchase.placed_by_id == buyer.pk
        assert purchase.points_awarded > 0
    assert holder.balance == p1.points_awarded + p2.points_awarded >= 600
    # 600 spent together: Silber for the account, though neither reached 500 alone
    assert holder.tier == tiers["Silber"]
    for buyer in buyers:
        buyer = fresh(buyer)
        assert buyer.balance == 0
        assert buyer.tier == tiers["Bronze"]
        assert not Purchase.objects.filter(membership=buyer).exists()
    books_balance(holder, *buyers)


def test_a_batch_of_pooled_purchases_lands_on_the_holder(business, buyers, partner, tiers):
    first, second = buyers
    outsider = enrolled(business.program)
    at = timezone.now() - timedelta(minutes=5)
    items = [
        PurchaseItem(fresh(first), "B-1", Decimal("400.00"), "EUR", at),
        PurchaseItem(fresh(second), "B-2", Decimal("400.00"), "EUR", at),
        PurchaseItem(fresh(outsider), "B-3", Decimal("50.00"), "EUR", at),
    ]
    outcomes = purchases_record_many(partner=partner, items=items)
    assert [o.error for o in outcomes] == [None, None, None]
    purchases_award([o.purchase.pk for o in outcomes])

    by_order = {p.order_id: p for p in Purchase.objects.all()}
    assert (by_order["B-1"].membership_id, by_order["B-1"].placed_by_id) == (
        business.holder_id,
        first.pk,
    )
    assert (by_order["B-2"].membership_id, by_order["B-2"].placed_by_id) == (
        business.holder_id,
        second.pk,
    )
    assert (by_order["B-3"].membership_id, by_order["B-3"].placed_by_id) == (outsider.pk, None)
    holder = fresh(business.holder)
    assert holder.balance == by_order["B-1"].points_awarded + by_order["B-2"].points_awarded > 0
    assert holder.tier == tiers["Silber"]
    assert fresh(first).balance == fresh(second).balance == 0
    assert fresh(outsider).balance == 50
    books_balance(holder, first, second, outsider)


def test_without_pooling_members_keep_their_own_purchases(program, tiers, buy):
    program_set(program, accounts_pool=False)
    buyer = enrolled(program)
    account = shared_account(program, buyer=[buyer])
    assert fresh(buyer).pool_id is None
    purchase = buy(fresh(buyer), "120.00")
    assert (purchase.membership_id, purchase.placed_by_id) == (buyer.pk, None)
    assert fresh(buyer).balance == 120
    assert fresh(account.holder).balance == 0


def test_points_from_before_joining_stay_with_the_member(program, tiers, buy):
    buyer = enrolled(program)
    buy(buyer, "80.00")
    account = shared_account(program, buyer=[buyer])
    buy(fresh(buyer), "20.00")
    assert fresh(buyer).balance == 80
    assert fresh(account.holder).balance == 20


def test_an_account_may_require_a_purchase_order_number(program, tiers, buy, partner):
    buyer = enrolled(program)
    account = account_create(
        program=program, kind="business", name="PO GmbH", requires_po_reference=True
    )
    account_member_add(account=account, membership=buyer, role=AccountRole.BUYER)
    with pytest.raises(PurchaseOrderMissing):
        buy(fresh(buyer), "50.00")
    with pytest.raises(PurchaseOrderMissing):
        buy(fresh(buyer), "50.00", po_reference="   ")
    assert not Purchase.objects.exists()

    purchase = buy(fresh(buyer), "50.00", po_reference="PO-4711")
    assert purchase.po_reference == "PO-4711"
    assert purchase.membership_id == account.holder_id

    at = timezone.now() - timedelta(minutes=5)
    outcomes = purchases_record_many(
        partner=partner,
        items=[
            PurchaseItem(fresh(buyer), "X-1", Decimal("10.00"), "EUR", at),
            PurchaseItem(fresh(buyer), "X-2", Decimal("10.00"), "EUR", at, po_reference="PO-1"),
        ],
    )
    assert isinstance(outcomes[0].error, PurchaseOrderMissing)
    assert outcomes[1].error is None
    assert outcomes[1].purchase.po_reference == "PO-1"
    assert not Purchase.objects.filter(order_id="X-1").exists()


# --- leaving --------------------------------------------------------------------------


def test_leaving_takes_future_purchases_out_and_leaves_earned_points(business, buyers, buy, system):
    first, _second = buyers
    buy(first, "100.00")
    account_member_leave(member=member_row(business, first))

    assert fresh(first).pool_id is None
    later = buy(fresh(first), "30.00")
    assert (later.membership_id, later.placed_by_id) == (first.pk, None)
    assert fresh(first).balance == 30
    assert fresh(business.holder).balance == 100  # earned into the account: stays there
    with pytest.raises(AccountRoleRefused):  # no longer a member: cannot spend the pool
        reward_redeem(
            membership=business.holder,
            reward=RewardFactory(program=business.program, points_cost=10),
            actor=system,
            by=first,
        )


def test_the_last_manager_cannot_leave_while_others_remain(program):
    owner, buyer = enrolled(program), enrolled(program)
    account = shared_account(program, manager=owner, buyer=[buyer])
    with pytest.raises(AccountRoleRefused):
        account_member_leave(member=member_row(account, owner))
    assert member_row(account, owner).left_at is None
    with pytest.raises(AccountRoleRefused):  # nor give up the role
        account_member_update(member=member_row(account, owner), role=AccountRole.BUYER)

    account_member_update(member=member_row(account, buyer), role=AccountRole.OWNER)
    account_member_leave(member=member_row(account, owner))
    remaining = AccountMember.objects.filter(account=account, left_at=None)
    assert list(remaining.values_list("membership", "role")) == [(buyer.pk, AccountRole.OWNER)]
    account_member_leave(member=member_row(account, buyer))  # the last one may go
    assert not AccountMember.objects.filter(account=account, left_at=None).exists()


def test_a_member_who_left_may_join_another_account(program):
    member = enrolled(program)
    first = shared_account(program, buyer=[member])
    account_member_leave(member=member_row(first, member))
    second = shared_account(program)
    account_member_add(account=second, membership=member, role=AccountRole.BUYER)
    assert fresh(member).pool_id == second.holder_id


# --- invitations ----------------------------------------------------------------------


def test_an_invitation_is_accepted_by_the_invited_address_only(business, program):
    invited = CustomerFactory(email="Neu.Einkauf@Example.com")
    other = CustomerFactory()
    invitation, token = account_invite(
        account=business, email="neu.einkauf@example.com", role=AccountRole.VIEWER
    )
    assert token
    assert invitation.token_hash != token
    with pytest.raises(InvitationClosed):
        invitation_accept(invitation=invitation, customer=other)
    assert not Membership.objects.filter(customer=other).exists()

    member = invitation_accept(invitation=invitation, customer=invited)  # not yet a member
    membership = Membership.objects.get(customer=invited, program=program)
    assert (member.membership_id, member.role) == (membership.pk, AccountRole.VIEWER)
    assert membership.pool_id == business.holder_id
    invitation.refresh_from_db()
    assert (invitation.status, invitation.member) == (InvitationStatus.ACCEPTED, member)
    with pytest.raises(InvitationClosed):  # once only
        invitation_accept(invitation=invitation, customer=invited)


@pytest.mark.parametrize("ending", ["expired", "declined", "revoked"])
def test_a_closed_invitation_cannot_be_accepted(business, ending):
    customer = CustomerFactory()
    invitation, _token = account_invite(
        account=business, email=customer.email, role=AccountRole.BUYER
    )
    if ending == "expired":
        invitation.expires_at = timezone.now() - timedelta(seconds=1)
        invitation.save(update_fields=["expires_at"])
    elif ending == "declined":
        invitation_decline(invitation=invitation, customer=customer)
    else:
        invitation_revoke(invitation=invitation)
    with pytest.raises(InvitationClosed):
        invitation_accept(invitation=invitation, customer=customer)
    assert not AccountMember.objects.filter(membership__customer=customer).exists()
    assert not Membership.objects.filter(customer=customer).exists()


def test_a_current_member_is_not_invited_again(business, buyers):
    with pytest.raises(AccountMembershipConflict):
        account_invite(account=business, email=buyers[0].customer.email, role="buyer")
    account_invite(account=business, email="a@example.com", role="buyer")
    with pytest.raises(AccountMembershipConflict):  # one open invitation per address
        account_invite(account=business, email="a@example.com", role="viewer")


# --- spending the pool ----------------------------------------------------------------


@pytest.fixture
def funded(business, buyers, buy):
    """The business with 1,000 points in its pool."""
    buy(buyers[0], "1000.00")
    assert fresh(business.holder).balance == 1000
    return business


def test_a_buyer_redeems_from_the_pool_and_a_viewer_may_not(funded, buyers, program, system):
    viewer = enrolled(program)
    account_member_add(account=funded, membership=viewer, role=AccountRole.VIEWER)
    reward = RewardFactory(program=program, points_cost=300)

    redemption = reward_redeem(membership=funded.holder, reward=reward, actor=system, by=buyers[1])
    assert (redemption.membership_id, redemption.placed_by_id) == (funded.holder_id, buyers[1].pk)
    assert fresh(funded.holder).balance == 700
    assert fresh(buyers[1]).balance == 0

    entries = LedgerEntry.objects.count()
    with pytest.raises(AccountRoleRefused):
        reward_redeem(membership=funded.holder, reward=reward, actor=system, by=viewer)
    with pytest.raises(AccountRoleRefused):  # not a member at all
        reward_redeem(membership=funded.holder, reward=reward, actor=system, by=enrolled(program))
    assert LedgerEntry.objects.count() == entries
    assert fresh(funded.holder).balance == 700


def test_the_monthly_limit_holds_and_cancelled_redemptions_do_not_count(
    funded, buyers, program, system
):
    buyer = buyers[1]
    account_member_update(member=member_row(funded, buyer), monthly_limit=250)
    reward = RewardFactory(program=program, points_cost=100)
    now = timezone.now()
    last_month = (now.replace(day=1) - timedelta(days=3)).replace(hour=12)
    reward_redeem(membership=funded.holder, reward=reward, actor=system, by=buyer, at=last_month)

    first = reward_redeem(membership=funded.holder, reward=reward, actor=system, by=buyer)
    reward_redeem(membership=funded.holder, reward=reward, actor=system, by=buyer)
    with pytest.raises(AccountRedemptionLimit):  # 300 > 250
        reward_redeem(membership=funded.holder, reward=reward, actor=system, by=buyer)
    # Another buyer's own limit is not touched by this one's redemptions
    reward_redeem(membership=funded.holder, reward=reward, actor=system, by=buyers[0])

    redemption_cancel(redemption=first, actor=system)
    reward_redeem(membership=funded.holder, reward=reward, actor=system, by=buyer)
    with pytest.raises(AccountRedemptionLimit):
        reward_redeem(membership=funded.holder, reward=reward, actor=system, by=buyer)
    assert fresh(funded.holder).balance == 1000 - 5 * 100 + 100


def test_the_pool_covers_only_what_it_holds(funded, buyers, program, system):
    reward = RewardFactory(program=program, points_cost=1001)
    with pytest.raises(InsufficientPoints):
        reward_redeem(membership=funded.holder, reward=reward, actor=system, by=buyers[0])


# --- closing --------------------------------------------------------------------------


def test_closing_settles_the_balance_to_the_manager_by_transfer(program, buy, tiers, system):
    owner, buyer = enrolled(program), enrolled(program)
    account = shared_account(program, manager=owner, buyer=[buyer])
    buy(fresh(buyer), "400.00")
    buy(fresh(owner), "100.00")
    lot_expiries = sorted(
        PointLot.objects.filter(membership=account.holder).values_list("expires_at", flat=True)
    )
    open_invitation, _ = account_invite(account=account, email="late@example.com", role="buyer")

    account_close(account=account, actor=system)

    account.refresh_from_db()
    assert account.status == AccountStatus.CLOSED
    assert account.closed_at is not None
    holder = fresh(account.holder)
    assert (holder.status, holder.balance) == (MembershipStatus.CLOSED, 0)
    assert fresh(owner).balance == 500
    assert fresh(buyer).balance == 0
    transfer = Transfer.objects.get(sender=holder)
    assert (transfer.recipient_id, transfer.points, transfer.status) == (
        owner.pk,
        500,
        TransferStatus.DONE,
    )
    received = PointLot.objects.get(membership=owner, earn_entry__kind=EntryKind.TRANSFER_IN)
    assert received.expires_at == lot_expiries[0]
    assert not AccountMember.objects.filter(account=account, left_at=None).exists()
    assert fresh(owner).pool_id is None
    assert fresh(buyer).pool_id is None
    open_invitation.refresh_from_db()
    assert open_invitation.status == InvitationStatus.REVOKED

    purchase = buy(fresh(buyer), "10.00")  # earns on their own again
    assert purchase.membership_id == buyer.pk
    with pytest.raises(AccountClosed):
        account_member_add(account=account, membership=enrolled(program), role="buyer")
    books_balance(holder, owner, buyer)


def test_the_closing_settlement_cannot_be_reversed(program, buy, system):
    owner = enrolled(program)
    account = shared_account(program, manager=owner)
    buy(fresh(owner), "60.00")
    account_close(account=account, actor=system)
    with pytest.raises(TransferNotReversible):  # the points would land in a closed account
        transfer_reverse(transfer=Transfer.objects.get(), user=StaffFactory())
    assert fresh(owner).balance == 60
    assert fresh(account.holder).balance == 0


def test_closing_settles_only_points_that_have_not_lapsed(program, buy, system):
    owner = enrolled(program)
    account = shared_account(program, manager=owner)
    buy(fresh(owner), "100.00", occurred_at=timezone.now() - relativedelta(months=23))
    buy(fresh(owner), "50.00")
    later = timezone.now() + relativedelta(months=2)  # the first lot lapsed; no job ran yet
    with mock.patch.object(timezone, "now", return_value=later):
        account_close(account=account, actor=system)
    assert Transfer.objects.get().points == 50
    assert fresh(owner).balance == 50
    assert fresh(account.holder).balance == 0
    books_balance(owner, account.holder)


def test_closing_is_refused_while_points_are_held(funded, buyers, partner, system):
    program_set(funded.program, point_value=Decimal("0.01"))
    hold_place(
        membership=funded.holder, partner=partner, amount=Decimal("2.00"), idempotency_key="h"
    )
    with pytest.raises(AccountNotSettled):
        account_close(account=funded, actor=system)
    funded.refresh_from_db()
    assert funded.status == AccountStatus.ACTIVE
    assert not Transfer.objects.exists()
    assert fresh(buyers[0]).pool_id == funded.holder_id


def test_closing_is_refused_while_points_are_pending(program, buy, system):
    program_set(program, pending_days=14)
    buyer = enrolled(program)
    account = shared_account(program, buyer=[buyer])
    buy(fresh(buyer), "50.00")
    assert fresh(account.holder).pending == 50
    with pytest.raises(AccountNotSettled):
        account_close(account=account, actor=system)
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE


def test_closing_is_refused_while_a_debt_is_open(program, buy, system):
    program_set(program, return_policy=ReturnPolicy.ALLOW_NEGATIVE)
    buyer = enrolled(program)
    account = shared_account(program, buyer=[buyer])
    purchase = buy(fresh(buyer), "100.00")
    reward_redeem(
        membership=account.holder,
        reward=RewardFactory(program=program, points_cost=100),
        actor=system,
        by=buyer,
    )
    purchase_refund(purchase=purchase, refund_id="r1", amount=Decimal("100.00"), actor=system)
    assert fresh(account.holder).debt == 100
    with pytest.raises(AccountNotSettled):
        account_close(account=account, actor=system)
    account.refresh_from_db()
    assert account.status == AccountStatus.ACTIVE


def test_an_expired_invitation_does_not_block_a_new_one(business):
    customer = CustomerFactory()
    first, _token = account_invite(account=business, email=customer.email, role="buyer")
    first.expires_at = timezone.now() - timedelta(seconds=1)
    first.save(update_fields=["expires_at"])
    with pytest.raises(InvitationClosed):
        invitation_accept(invitation=first, customer=customer)

    second, _token = account_invite(account=business, email=customer.email, role="buyer")
    member = invitation_accept(invitation=second, customer=customer)
    assert member.account == business
    first.refresh_from_db()
    assert first.status == InvitationStatus.EXPIRED


def test_the_sweeper_marks_lapsed_invitations_expired(business):
    lapsed, _token = account_invite(account=business, email="late@example.com", role="buyer")
    fresh_one, _token = account_invite(account=business, email="soon@example.com", role="buyer")
    lapsed.expires_at = timezone.now() - timedelta(seconds=1)
    lapsed.save(update_fields=["expires_at"])

    sweep_account_invitations_task()

    lapsed.refresh_from_db()
    fresh_one.refresh_from_db()
    assert (lapsed.status, fresh_one.status) == (InvitationStatus.EXPIRED, InvitationStatus.OPEN)
