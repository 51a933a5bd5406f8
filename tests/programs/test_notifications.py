"""Notifications: one per cause, in the customer's language, preferences respected, no
e-mail when the cause rolls back."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from customers.preferences import customer_preferences, customer_preferences_update
from programs.models import ExpiryPolicy, TierChange
from programs.notifications.models import EmailState, Notification, NotificationKind
from programs.notifications.services import notifications_for_event, points_expiry_warn
from programs.services import events
from programs.services.due import referrals_release_due
from programs.services.ledger import Actor
from programs.services.memberships import membership_enroll
from programs.services.referrals import referral_register
from programs.services.rewards import reward_redeem
from programs.services.tiers import membership_tier_override
from tests.factories import CustomerFactory, RewardFactory, StaffFactory
from tests.programs import conftest as engine

# The engine's fixtures: a program with Bronze/Silber/Gold/Platin, a partner, a member, buy().
program, tiers, partner, membership, buy = (
    engine.program,
    engine.tiers,
    engine.partner,
    engine.membership,
    engine.buy,
)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run what is deferred to the commit (e-mail tasks, tier checks), as production does."""

    def run(action, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return action(*args, **kwargs)

    return run


def notes(membership, kind=None):
    qs = Notification.objects.filter(membership=membership)
    return list(qs.filter(kind=kind) if kind else qs)


def test_tier_upgrade_notifies_once_with_a_german_email(membership, buy, committed):
    committed(buy, membership, "600.00")  # crosses Silber (500)
    [upgrade] = notes(membership, NotificationKind.TIER_UPGRADE)
    assert upgrade.params["tier"] == "Silber"
    assert upgrade.email_state == EmailState.SENT
    assert [m.subject for m in mail.outbox] == ["Willkommen bei Silber!"]
    assert mail.outbox[0].to == [membership.customer.email]
    assert "Silber" in mail.outbox[0].alternatives[0][0]  # the HTML part

    # the same cause again (a replayed event) notifies nobody twice
    change = TierChange.objects.get(membership=membership, reason="upgrade")
    data = {"change_id": change.pk, "to_tier": "Silber", "direction": "up", "reason": "upgrade"}
    committed(notifications_for_event, type=events.TIER_CHANGED, membership=membership, data=data)
    assert len(notes(membership, NotificationKind.TIER_UPGRADE)) == 1
    assert len(mail.outbox) == 1


def test_english_customer_gets_an_english_email(membership, buy, committed):
    membership.customer.language = "en"
    membership.customer.save()
    committed(buy, membership, "600.00")
    assert [m.subject for m in mail.outbox] == ["Welcome to Silber!"]
    assert "You have reached the Silber tier" in mail.outbox[0].body


def test_enrolling_in_the_base_tier_is_no_news(membership):
    assert notes(membership) == []


def test_downgrade_by_staff_notifies_once(membership, tiers, buy, committed):
    committed(buy, membership, "600.00")
    mail.outbox.clear()
    committed(
        membership_tier_override,
        membership,
        tier=tiers["Bronze"],
        until=None,
        reason="goodwill reversed",
        user=StaffFactory(),
    )
    [downgrade] = notes(membership, NotificationKind.TIER_DOWNGRADE)
    assert (downgrade.params["from_tier"], downgrade.params["tier"]) == ("Silber", "Bronze")
    assert [m.subject for m in mail.outbox] == ["Ihre Stufe ist jetzt Bronze"]


def test_ordinary_purchases_notify_nothing(membership, buy, committed):
    committed(buy, membership, "100.00")
    committed(buy, membership, "50.00")
    assert notes(membership) == []
    assert mail.outbox == []


def test_approaching_the_next_tier_notifies_once_per_tier_and_period(membership, buy, committed):
    committed(buy, membership, "400.00")  # 100 short of Silber: not within 10 %
    assert notes(membership) == []
    committed(buy, membership, "60.00")  # 40 short
    committed(buy, membership, "10.00")  # 30 short: same tier, same period
    [approaching] = notes(membership, NotificationKind.TIER_APPROACHING)
    assert approaching.params["tier"] == "Silber"
    assert Decimal(approaching.params["missing"]) == Decimal("40.00")
    assert [m.subject for m in mail.outbox] == ["Silber ist in Reichweite"]
    assert "40,00 EUR" in mail.outbox[0].body


def test_reward_redeemed_notifies_once(membership, program, buy, committed):
    committed(buy, membership, "300.00")
    reward = RewardFactory(program=program, name="Kaffeebecher", points_cost=100)
    redemption = committed(
        reward_redeem, membership=membership, reward=reward, actor=Actor.for_customer()
    )
    [note] = notes(membership, NotificationKind.REWARD_REDEEMED)
    assert note.params["voucher_code"] == redemption.voucher_code
    data = {
        "redemption_id": redemption.pk,
        "reward": reward.name,
        "points": 100,
        "voucher_code": redemption.voucher_code,
    }
    committed(
        notifications_for_event, type=events.REWARD_REDEEMED, membership=membership, data=data
    )
    assert len(notes(membership, NotificationKind.REWARD_REDEEMED)) == 1
    assert [m.subject for m in mail.outbox] == ["Ihre Prämie: Kaffeebecher"]
    assert redemption.voucher_code in mail.outbox[0].body


def test_referral_reward_notifies_the_referrer_once(program, tiers, buy, committed):
    referrer, _ = membership_enroll(customer=CustomerFactory(), program=program)
    friend, _ = membership_enroll(customer=CustomerFactory(), program=program)
    referral_register(referral_code=referrer.referral_code, referee=friend)
    committed(buy, friend, "25.00")
    later = timezone.now() + timedelta(days=1)
    assert committed(referrals_release_due, now=later) == 1
    committed(referrals_release_due, now=later)  # nothing left to release, nothing re-sent
    [note] = notes(referrer, NotificationKind.REFERRAL_REWARDED)
    assert note.params["points"] == 500
    assert [m.to for m in mail.outbox] == [[referrer.customer.email]]
    assert mail.outbox[0].subject == "Danke für Ihre Empfehlung!"


def test_points_about_to_expire_are_announced_once_per_day(program, tiers, buy, committed):
    program.expiry_policy, program.expiry_months = ExpiryPolicy.FIXED_PERIOD, 12
    program.save()
    member, _ = membership_enroll(customer=CustomerFactory(language="en"), program=program)
    now = timezone.now()
    committed(buy, member, "80.00", occurred_at=now - timedelta(days=365 - 20))
    committed(buy, member, "40.00", occurred_at=now - timedelta(days=365 - 60))  # not yet
    assert committed(points_expiry_warn, now) == 1
    assert committed(points_expiry_warn, now) == 0
    assert committed(points_expiry_warn, now + timedelta(days=1)) == 0
    [warning] = notes(member, NotificationKind.POINTS_EXPIRING)
    assert warning.params["points"] == 80
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject.startswith("80 points expire on ")


def test_switched_off_email_still_writes_the_feed_entry(membership, buy, committed):
    assert customer_preferences(membership.customer)["email_tier_changes"] is True
    customer_preferences_update(membership.customer, email_tier_changes=False)
    committed(buy, membership, "600.00")
    [upgrade] = notes(membership, NotificationKind.TIER_UPGRADE)
    assert upgrade.email_state == EmailState.SKIPPED
    assert "preferences" in upgrade.email_last_error
    assert mail.outbox == []


def test_preferences_defaults_and_bad_input(membership):
    customer = membership.customer
    prefs = customer_preferences(customer)
    assert prefs["email_marketing"] is False
    assert all(v for k, v in prefs.items() if k != "email_marketing")
    assert customer_preferences_update(customer, email_marketing=True)["email_marketing"]
    assert customer_preferences(customer)["email_marketing"] is True
    with pytest.raises(TypeError):
        customer_preferences_update(customer, email_sms=True)
    with pytest.raises(ValueError, match="True or False"):
        customer_preferences_update(customer, email_rewards="yes")


def test_no_notification_and_no_email_when_the_cause_rolls_back(
    membership, buy, django_capture_on_commit_callbacks
):
    class Boom(Exception):
        pass

    def purchase_then_fail():
        with transaction.atomic():
            buy(membership, "600.00")
            raise Boom

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Boom):
        purchase_then_fail()
    assert callbacks == []
    assert notes(membership) == []
    assert mail.outbox == []


def test_progress_checks_of_a_whole_batch_notify_who_is_close_in_a_few_queries(
    program, tiers, buy, django_assert_max_num_queries
):
    """The worker checks every member of an award batch at once: the members within 10 %
    of Silber (500 EUR) get a notice, the others none, and 40 members cost no more queries
    than 4."""
    from programs.notifications.tier_progress import tier_progress_checks

    def enrolled(amount: str):
        membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
        buy(membership, amount)
        return membership

    close = [enrolled("460.00") for _ in range(20)]  # 40 short: within 10 %
    far = [enrolled("300.00") for _ in range(20)]  # 200 short
    customer_preferences_update(close[0].customer, email_tier_progress=False)
    Notification.objects.all().delete()

    with django_assert_max_num_queries(12) as few:
        tier_progress_checks([m.pk for m in close[:2] + far[:2]])
    with django_assert_max_num_queries(len(few.captured_queries)):
        keys = tier_progress_checks([m.pk for m in close + far])

    assert len(keys) == 20
    notified = Notification.objects.filter(kind=NotificationKind.TIER_APPROACHING)
    assert {n.membership_id for n in notified} == {m.pk for m in close}
    assert {n.params["tier"] for n in notified} == {"Silber"}
    assert {Decimal(n.params["missing"]) for n in notified} == {Decimal("40.00")}
    assert notified.get(membership=close[0]).email_state == EmailState.SKIPPED
    assert tier_progress_checks([m.pk for m in close]) == keys  # once per tier and period
    assert notified.count() == 20
