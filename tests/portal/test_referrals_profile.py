import json

import pytest
from django.utils import timezone

from programs.models import ReferralStatus
from programs.notifications.models import Notification
from programs.services.memberships import membership_enroll
from programs.services.referrals import referral_register, referral_reject
from tests.factories import StaffFactory
from tests.portal.conftest import make_customer

pytestmark = pytest.mark.django_db


def test_referrals_page_shows_code_link_and_friends_with_status(
    portal, membership, program, settings
):
    settings.SITE_URL = "https://loyalty.example.com"
    friend = make_customer("clara@example.com", first_name="Clara")
    friend_membership, _ = membership_enroll(customer=friend, program=program)
    referral_register(referral_code=membership.referral_code, referee=friend_membership)
    rejected = make_customer("dora@example.com", first_name="Dora")
    rejected_membership, _ = membership_enroll(customer=rejected, program=program)
    refused = referral_register(referral_code=membership.referral_code, referee=rejected_membership)
    referral_reject(referral=refused, user=StaffFactory(), reason="friend_not_new")
    html = portal.get("/portal/referrals/").content.decode()
    assert membership.referral_code in html
    assert f"https://loyalty.example.com/r/{membership.referral_code}/" in html
    assert "Clara S." in html
    assert "Angemeldet" in html
    assert "Nicht belohnt" in html
    assert "Diese Person war bereits Kundin oder Kunde." in html
    assert "clara@example.com" not in html  # friends' addresses stay private


def test_referral_points_are_counted_per_friend(portal, membership, program, buy):
    from datetime import timedelta

    from programs.services.referrals import referral_release

    friend = make_customer("eva@example.com", first_name="Eva")
    friend_membership, _ = membership_enroll(customer=friend, program=program)
    referral = referral_register(referral_code=membership.referral_code, referee=friend_membership)
    buy(friend_membership, "50.00", days_ago=20)
    referral_release(referral.pk, now=timezone.now() + timedelta(days=30))
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.REWARDED
    friends = portal.get("/portal/referrals/").context["friends"]
    assert [(f["name"], f["points"]) for f in friends] == [("Eva S.", 500)]


def test_profile_update_switches_the_language(portal, customer):
    response = portal.post(
        "/portal/profile/", {"first_name": "Anne", "last_name": "Schmitt", "language": "en"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/en/portal/profile/"
    assert response.cookies["django_language"].value == "en"
    customer.refresh_from_db()
    assert (customer.first_name, customer.language) == ("Anne", "en")
    page = portal.get(response["Location"]).content.decode()
    assert "Your profile is saved." in page


def test_profile_update_with_missing_name_is_400(portal, customer):
    response = portal.post("/portal/profile/", {"first_name": "", "language": "xx"})
    assert response.status_code == 400
    assert response.context["form"].errors["first_name"]


def test_preferences_are_saved(portal, customer):
    from customers.preferences import customer_preferences

    response = portal.post("/portal/profile/preferences/", {"email_marketing": "on"})
    assert response.status_code == 302
    saved = customer_preferences(customer)
    assert saved["email_marketing"] is True
    assert saved["email_tier_changes"] is False  # unticked boxes are switched off


def test_data_export_holds_my_data_only(portal, membership, other_membership, buy):
    buy(membership, "10.00", days_ago=1, order_id="MINE-1")
    buy(other_membership, "10.00", days_ago=1, order_id="THEIRS-1")
    response = portal.get("/portal/profile/data/")
    assert response["Content-Disposition"].startswith("attachment;")
    data = json.loads(response.content)
    assert data["customer"]["email"] == "anna@example.com"
    assert [p["order_id"] for p in data["purchases"]] == ["MINE-1"]
    assert len(data["ledger"]) == 1
    assert "THEIRS-1" not in response.content.decode()


def test_deletion_request_needs_the_checkbox_and_is_recorded_once(portal, customer):
    refused = portal.post("/portal/profile/delete/", {})
    assert refused.status_code == 400
    customer.refresh_from_db()
    assert customer.deletion_requested_at is None
    portal.post("/portal/profile/delete/", {"confirm": "on"})
    customer.refresh_from_db()
    first = customer.deletion_requested_at
    assert first is not None
    portal.post("/portal/profile/delete/", {"confirm": "on"})
    customer.refresh_from_db()
    assert customer.deletion_requested_at == first
    assert 'data-testid="deletion-requested"' in portal.get("/portal/profile/").content.decode()


PARAMS = {"reward": "Cappuccino", "points": 150, "voucher_code": "ABCD-EFGH-JKMN"}


def test_notifications_feed_shows_mine_and_marks_only_mine_read(portal, customer, membership):
    mine = Notification.objects.create(
        customer=customer,
        membership=membership,
        kind="reward_redeemed",
        cause_key="t:1",
        params=PARAMS,
        created_at=timezone.now(),
    )
    other = make_customer("zoe@example.com")
    theirs = Notification.objects.create(
        customer=other,
        kind="reward_redeemed",
        cause_key="t:2",
        params=PARAMS,
        created_at=timezone.now(),
    )
    page = portal.get("/portal/notifications/")
    assert list(page.context["notifications"]) == [mine]
    assert "Cappuccino" in page.content.decode()
    portal.post("/portal/notifications/", {"id": [str(theirs.pk)]})
    theirs.refresh_from_db()
    assert theirs.read_at is None
    portal.post("/portal/notifications/")
    mine.refresh_from_db()
    assert mine.read_at is not None
