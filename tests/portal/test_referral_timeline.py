"""Both sides of a referral follow it on the referral page: the referrer sees, per friend,
joined, first purchase and her reward (paid on a date, or expected on a date); the invited
friend sees who invited her and when her welcome bonus arrives. No table: cards that fit
a phone."""

from datetime import timedelta

import pytest
from django.utils import timezone

from programs.services.memberships import membership_enroll
from programs.services.referrals import referral_register, referral_release
from tests.portal.conftest import make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def friend(membership, program):
    """Clara joined through Anna's link (program: 14 days' return window, 20 EUR minimum)."""
    clara = make_customer("clara@example.com", first_name="Clara")
    clara_membership, _ = membership_enroll(customer=clara, program=program)
    referral = referral_register(referral_code=membership.referral_code, referee=clara_membership)
    return clara_membership, referral


def _date(moment) -> str:
    months = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August"]
    months += ["September", "Oktober", "November", "Dezember"]
    day = timezone.localtime(moment)
    return f"{day.day}. {months[day.month - 1]} {day.year}"


def test_before_the_first_purchase_both_sides_see_what_comes_next(portal, friend, client):
    clara, referral = friend
    html = portal.get("/portal/referrals/").content.decode()
    assert "<table" not in html
    assert "Clara S." in html
    assert "Über Ihre Einladung angemeldet" in html
    assert f"am {_date(referral.created_at)}" in html
    assert "Erster Einkauf ab 20,00\u00a0EUR" in html
    assert "500 Punkte für Sie" in html
    assert "14 Tage nach dem ersten Einkauf" in html

    client.force_login(clara.customer.user)
    mine = client.get("/portal/referrals/").content.decode()
    assert "Eingeladen von Anna S." in mine
    assert "Anna S. hat Sie eingeladen" in mine
    assert "Ihr erster Einkauf ab 20,00\u00a0EUR" in mine
    assert "200 Willkommenspunkte" in mine
    assert "mit Ihrem ersten Einkauf" in mine


def test_after_the_purchase_the_referrer_sees_the_expected_date(portal, friend, buy, client):
    clara, referral = friend
    buy(clara, "35.00", days_ago=2)
    referral.refresh_from_db()
    html = portal.get("/portal/referrals/").content.decode()
    assert "Hat eingekauft" in html
    assert f"erwartet am {_date(referral.release_at)}, nach Ablauf der Rückgabefrist" in html

    client.force_login(clara.customer.user)
    mine = client.get("/portal/referrals/").content.decode()
    assert "200 Willkommenspunkte gutgeschrieben" in mine
    assert f"am {_date(timezone.now())}" in mine


def test_a_rewarded_referral_shows_the_day_it_was_paid(portal, friend, buy):
    clara, referral = friend
    buy(clara, "35.00", days_ago=20)
    paid_at = timezone.now() + timedelta(days=1)
    referral_release(referral.pk, now=paid_at)
    html = portal.get("/portal/referrals/").content.decode()
    assert "Sie haben 500 Punkte erhalten" in html
    assert f"am {_date(paid_at)}" in html
    assert "erwartet" not in html
    assert "1 Person eingeladen, bisher 500 Punkte für Sie." in html


def test_a_member_who_was_not_invited_sees_no_invitation(portal, membership):
    html = portal.get("/portal/referrals/").content.decode()
    assert 'data-testid="invited-by"' not in html
    assert "Über Ihren Link hat sich noch niemand angemeldet." in html
