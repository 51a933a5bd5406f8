"""Referrals: the friend's first qualifying purchase rewards the friend at once and the
referrer after the return window; fraud checks block or queue suspicious referrals."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.services import customer_create
from programs.errors import ReferralNotAllowed
from programs.models import EntrySource, Referral, ReferralStatus, ReturnPolicy, RiskVerdict
from programs.services.due import referrals_release_due
from programs.services.memberships import (
    membership_close,
    membership_enroll,
    membership_reactivate,
    membership_suspend,
)
from programs.services.purchase_refunds import purchase_refund
from programs.services.referrals import referral_approve, referral_register, referral_reject
from programs.services.rewards import reward_redeem
from tests.factories import CustomerFactory, RewardFactory, StaffFactory
from tests.programs.bookkeeping import assert_books_balance, program_set


@pytest.fixture
def enroll(program, tiers):
    def _enroll(email=None):
        customer = customer_create(email=email) if email else CustomerFactory()
        membership, _ = membership_enroll(customer=customer, program=program)
        return membership

    return _enroll


@pytest.fixture
def referrer(enroll):
    return enroll("max.muster@example.com")


@pytest.fixture
def friend(enroll):
    return enroll("erika@example.org")


@pytest.fixture
def window(program):
    """A 14-day return window: the friend's purchase points are pending that long."""
    return program_set(program, pending_days=14)


def register(referrer, friend, **signals):
    return referral_register(referral_code=referrer.referral_code, referee=friend, **signals)


def points(membership):
    membership.refresh_from_db()
    return membership.balance, membership.pending


def test_clear_referral_rewards_friend_now_and_referrer_after_the_window(
    window, referrer, friend, buy
):
    # codes are typed by hand: case and surrounding spaces do not matter
    referral = referral_register(
        referral_code=f"  {referrer.referral_code.lower()} ", referee=friend
    )
    assert (referral.status, referral.risk, referral.risk_reasons) == (
        ReferralStatus.SIGNED_UP,
        RiskVerdict.CLEAR,
        [],
    )
    bought_at = timezone.now() - timedelta(minutes=1)
    purchase = buy(friend, "25.00", occurred_at=bought_at)
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.QUALIFIED
    assert referral.qualifying_purchase == purchase
    assert referral.release_at == bought_at + timedelta(days=14)
    # friend: 200 welcome points available now, 25 purchase points pending
    assert points(friend) == (200, 25)
    assert points(referrer) == (0, 0)

    assert referrals_release_due(now=bought_at + timedelta(days=13)) == 0
    assert points(referrer) == (0, 0)

    assert referrals_release_due(now=bought_at + timedelta(days=14)) == 1
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.REWARDED
    assert referral.rewarded_at == bought_at + timedelta(days=14)
    assert points(referrer) == (500, 0)
    entry = referrer.entries.get()
    assert (entry.source, entry.points, entry.referral_id) == (
        EntrySource.REFERRAL,
        500,
        referral.pk,
    )
    # the job running again rewards nothing twice
    assert referrals_release_due(now=bought_at + timedelta(days=20)) == 0
    assert points(referrer) == (500, 0)
    assert_books_balance(referrer)
    assert_books_balance(friend)


def test_purchase_below_the_minimum_does_not_qualify(referrer, friend, buy):
    referral = register(referrer, friend)
    buy(friend, "19.99")  # minimum is 20.00
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.SIGNED_UP
    assert referral.qualifying_purchase is None
    assert points(friend) == (19, 0)  # no welcome bonus
    second = buy(friend, "20.00")  # the first purchase that reaches the minimum qualifies
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.QUALIFIED
    assert referral.qualifying_purchase == second
    assert points(friend) == (239, 0)  # 19 + 20 + 200


@pytest.mark.parametrize("refunded", ["25.00", "5.01"])  # 25.00 - 5.01 = 19.99 < 20.00
def test_returned_qualifying_purchase_rejects_the_referral(
    window, referrer, friend, buy, system, refunded
):
    referral = register(referrer, friend)
    purchase = buy(friend, "25.00")
    purchase_refund(purchase=purchase, refund_id="R-1", amount=Decimal(refunded), actor=system)
    # rejected at the return, not only when the referrer's reward falls due
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.REJECTED
    assert referral.rejection_reason == "qualifying purchase returned"
    assert referrals_release_due(now=timezone.now() + timedelta(days=15)) == 0
    assert points(referrer) == (0, 0)
    # the friend's welcome bonus went with it (it was unspent: every policy takes it back)
    friend.refresh_from_db()
    assert friend.balance == 0
    assert_books_balance(friend)


def test_partly_returned_purchase_above_the_minimum_still_rewards(
    window, referrer, friend, buy, system
):
    referral = register(referrer, friend)
    purchase = buy(friend, "25.00")
    purchase_refund(purchase=purchase, refund_id="R-1", amount=Decimal("5.00"), actor=system)
    referrals_release_due(now=timezone.now() + timedelta(days=15))
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.REWARDED  # 20.00 kept: still qualifying
    assert points(referrer) == (500, 0)


@pytest.mark.parametrize(
    ("referrer_email", "friend_email"),
    [
        ("Max.Muster@gmail.com", "maxmuster+neu@googlemail.com"),  # dots, plus tag, alias
        ("max@example.com", "MAX+2@Example.com"),  # case and plus tag
    ],
)
def test_self_referral_by_normalised_email_is_blocked(enroll, referrer_email, friend_email):
    referrer, friend = enroll(referrer_email), enroll(friend_email)
    referral = register(referrer, friend)
    assert referral.status == ReferralStatus.REJECTED
    assert referral.risk == RiskVerdict.BLOCKED
    assert referral.risk_reasons == ["self_referral_email"]
    assert referral.rejection_reason == "self_referral_email"


def test_dots_count_where_the_provider_reads_them(enroll):
    referral = register(enroll("max.muster@web.de"), enroll("maxmuster@web.de"))
    assert referral.status == ReferralStatus.SIGNED_UP
    assert referral.risk == RiskVerdict.CLEAR


def test_referral_loop_is_blocked(enroll):
    a, b, c = enroll(), enroll(), enroll()
    assert register(a, b).status == ReferralStatus.SIGNED_UP
    assert register(b, c).status == ReferralStatus.SIGNED_UP
    loop = register(c, a)  # a referred b, b referred c: c cannot refer a
    assert loop.status == ReferralStatus.REJECTED
    assert loop.risk_reasons == ["referral_loop"]


def test_friend_with_earlier_purchases_is_blocked(referrer, friend, buy):
    buy(friend, "30.00")
    referral = register(referrer, friend)
    assert referral.status == ReferralStatus.REJECTED
    assert referral.risk_reasons == ["friend_not_new"]
    buy(friend, "30.00")
    assert points(friend) == (60, 0)  # no welcome bonus
    assert referrals_release_due(now=timezone.now() + timedelta(days=30)) == 0
    assert points(referrer) == (0, 0)


def test_friend_can_be_referred_only_once(enroll, referrer, friend):
    register(referrer, friend)
    with pytest.raises(ReferralNotAllowed):
        register(enroll(), friend)


def test_cap_reached_blocks_further_referrals(program, enroll, referrer, buy):
    program_set(program, referral_cap=1)
    first_friend = enroll()
    register(referrer, first_friend)
    buy(first_friend, "25.00")  # qualified: counts against the cap
    late = register(referrer, enroll())
    assert late.status == ReferralStatus.REJECTED
    assert late.risk_reasons == ["referrer_cap_reached"]


def test_cap_is_checked_again_when_rewards_are_released(program, enroll, referrer, buy):
    program_set(program, referral_cap=1)
    one, two = enroll(), enroll()
    first, second = register(referrer, one), register(referrer, two)
    buy(one, "25.00")
    buy(two, "25.00")
    referrals_release_due(now=timezone.now() + timedelta(days=1))
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == ReferralStatus.REWARDED
    assert (second.status, second.rejection_reason) == (
        ReferralStatus.REJECTED,
        "referrer_cap_reached",
    )
    assert points(referrer) == (500, 0)  # one reward only


def test_same_device_goes_to_review_then_approved(window, referrer, friend, buy):
    buy(referrer, "10.00", device_id="device-42")
    referral = register(referrer, friend, device_id="device-42")
    assert (referral.status, referral.risk, referral.risk_reasons) == (
        ReferralStatus.REVIEW,
        RiskVerdict.SUSPICIOUS,
        ["same_device"],
    )
    buy(friend, "25.00")
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.REVIEW  # held: no bonus yet
    assert points(friend) == (0, 25)

    staff = StaffFactory()
    referral_approve(referral=referral, user=staff)
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.QUALIFIED
    assert referral.reviewed_by == staff
    assert referral.reviewed_at is not None
    assert points(friend) == (200, 25)
    referrals_release_due(now=timezone.now() + timedelta(days=15))
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.REWARDED
    assert points(referrer) == (500, 10)  # its own 10 purchase points are still pending


def test_same_ip_goes_to_review(referrer, friend, buy):
    buy(referrer, "10.00", ip_address="203.0.113.7")
    referral = register(referrer, friend, ip="203.0.113.7")
    assert (referral.status, referral.risk_reasons) == (ReferralStatus.REVIEW, ["same_ip"])


def test_same_payment_fingerprint_sends_the_qualifying_purchase_to_review(referrer, friend, buy):
    buy(referrer, "10.00", payment_fingerprint="card-abc")
    referral = register(referrer, friend)
    assert referral.status == ReferralStatus.SIGNED_UP
    buy(friend, "25.00", payment_fingerprint="card-abc")
    referral.refresh_from_db()
    assert (referral.status, referral.risk, referral.risk_reasons) == (
        ReferralStatus.REVIEW,
        RiskVerdict.SUSPICIOUS,
        ["same_payment_fingerprint"],
    )
    assert points(friend) == (25, 0)  # no welcome bonus while under review


def test_reject_keeps_the_reason(referrer, friend, buy):
    buy(referrer, "10.00", device_id="device-42")
    referral = register(referrer, friend, device_id="device-42")
    staff = StaffFactory()
    with pytest.raises(ReferralNotAllowed):
        referral_reject(referral=referral, user=staff, reason="  ")
    referral_reject(referral=referral, user=staff, reason="Gleicher Haushalt, Doppelkonto")
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.REJECTED
    assert referral.rejection_reason == "Gleicher Haushalt, Doppelkonto"
    assert referral.reviewed_by == staff
    buy(friend, "25.00")
    assert points(friend) == (25, 0)
    with pytest.raises(ReferralNotAllowed):
        referral_approve(referral=referral, user=staff)
    with pytest.raises(ReferralNotAllowed):
        referral_reject(referral=referral, user=staff, reason="nochmal")


def test_only_referrals_under_review_can_be_approved(referrer, friend):
    referral = register(referrer, friend)
    with pytest.raises(ReferralNotAllowed):
        referral_approve(referral=referral, user=StaffFactory())


def test_invalid_code_or_disabled_scheme_is_refused(program, referrer, friend):
    with pytest.raises(ReferralNotAllowed):
        referral_register(referral_code="NOPE1234", referee=friend)
    program_set(program, referral_enabled=False)
    with pytest.raises(ReferralNotAllowed):
        register(referrer, friend)


@pytest.mark.parametrize(
    ("policy", "after"),
    [
        # 150 of the 200 welcome points were spent; the purchase points were still pending
        (ReturnPolicy.PENDING_ONLY, (50, 0, 0)),  # the bonus was available: kept
        (ReturnPolicy.WITHIN_AVAILABLE, (0, 0, 0)),  # takes the 50 left, no further
        (ReturnPolicy.ALLOW_NEGATIVE, (0, 0, 150)),  # the 50 left and a debt of 150
    ],
)
def test_full_return_takes_back_the_welcome_bonus_as_the_policy_allows(
    program, window, referrer, friend, buy, system, policy, after
):
    program_set(program, return_policy=policy)
    referral = register(referrer, friend)
    purchase = buy(friend, "25.00")
    reward_redeem(
        membership=friend, reward=RewardFactory(program=program, points_cost=150), actor=system
    )
    assert points(friend) == (50, 25)
    purchase_refund(purchase=purchase, refund_id="R-1", amount=Decimal("25.00"), actor=system)
    friend.refresh_from_db()
    assert (friend.balance, friend.pending, friend.debt) == after
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.REJECTED
    referrals_release_due(now=timezone.now() + timedelta(days=15))
    assert points(referrer) == (0, 0)
    assert_books_balance(friend)


def test_return_of_a_purchase_under_review_rejects_it(referrer, friend, buy, system):
    referral = register(referrer, friend, device_id="phone-1")
    Referral.objects.filter(pk=referral.pk).update(status=ReferralStatus.REVIEW)
    purchase = buy(friend, "25.00")
    purchase_refund(purchase=purchase, refund_id="R-1", amount=Decimal("25.00"), actor=system)
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.REJECTED
    with pytest.raises(ReferralNotAllowed):
        referral_approve(referral=referral, user=StaffFactory())
    assert points(friend) == (0, 0)


def test_a_rewarded_referral_stays_rewarded_after_a_late_return(
    window, referrer, friend, buy, system
):
    referral = register(referrer, friend)
    purchase = buy(friend, "25.00")
    referrals_release_due(now=timezone.now() + timedelta(days=15))
    purchase_refund(purchase=purchase, refund_id="R-1", amount=Decimal("25.00"), actor=system)
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.REWARDED
    assert points(referrer) == (500, 0)


def test_factory_customers_are_matched_by_the_normalised_email(program, tiers):
    referrer, _ = membership_enroll(
        customer=CustomerFactory(email="Max.Muster@gmail.com"), program=program
    )
    friend, _ = membership_enroll(
        customer=CustomerFactory(email="maxmuster+zwei@googlemail.com"), program=program
    )
    assert friend.customer.email_normalized == "maxmuster@gmail.com"
    referral = register(referrer, friend)
    assert referral.risk_reasons == ["self_referral_email"]


def test_referrer_reward_waits_while_suspended_and_lapses_when_closed(
    window, enroll, referrer, friend, buy
):
    staff = StaffFactory()
    register(referrer, friend)
    buy(friend, "25.00")
    later = timezone.now() + timedelta(days=15)
    membership_suspend(membership=referrer, reason="Prüfung", user=staff)
    referrals_release_due(now=later)
    assert points(referrer) == (0, 0)  # a suspended member earns nothing meanwhile
    membership_reactivate(membership=referrer, reason="geklärt", user=staff)
    referrals_release_due(now=later)
    assert points(referrer) == (500, 0)

    other = enroll()
    referral = register(referrer, other)
    buy(other, "25.00")
    membership_close(membership=referrer, reason="gekündigt", user=staff)
    referrals_release_due(now=later)
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.REJECTED
    assert referral.rejection_reason == "referrer_membership_closed"
    assert points(referrer) == (500, 0)
    with pytest.raises(ReferralNotAllowed):  # a closed member's code no longer works
        register(referrer, enroll())
