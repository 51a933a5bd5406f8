"""Abuse limits of the public pages: sign-up, confirmation resend, password reset and
referral landing answer 429 with a German page after the configured number of attempts,
counted per e-mail address and per client address; with the cache gone they still hold."""

import pytest
from django.core import mail

from customers.models import Customer
from loyalty_site.core.cache import cache_failed, cache_resume
from tests.portal.conftest import make_customer

pytestmark = pytest.mark.django_db

SIGNUP = {
    "first_name": "Clara",
    "last_name": "Neu",
    "password": "kaffee-und-kuchen-42",
    "language": "de",
    "terms": "on",
}


@pytest.fixture
def limits(settings):
    settings.PORTAL_LIMITS = {
        "signup": {"ip": "4/hour", "email": "2/hour"},
        "confirm_resend": {"ip": "10/hour", "email": "2/hour"},
        "password_reset": {"ip": "4/hour", "email": "2/hour"},
        "referral": {"ip": "3/hour"},
    }
    return settings.PORTAL_LIMITS


def sign_up(client, program, email, ip="10.0.0.1"):
    return client.post(f"/portal/join/{program.slug}/", {**SIGNUP, "email": email}, REMOTE_ADDR=ip)


def assert_too_many(response):
    assert response.status_code == 429
    assert 60 <= int(response["Retry-After"]) <= 3600
    page = response.content.decode()
    assert "Zu viele Versuche" in page
    assert "Bitte versuchen Sie es in" in page


def test_signup_is_limited_per_email_address(client, program, tiers, limits):
    # "taken" answers count as attempts too: trying one address again and again is the abuse
    assert sign_up(client, program, "clara@example.com").status_code == 302
    client.logout()
    assert sign_up(client, program, "Clara@Example.com").status_code == 200  # taken
    assert_too_many(sign_up(client, program, "CLARA@example.com"))  # 3rd for that address
    assert sign_up(client, program, "dora@example.com").status_code == 302  # another one


def test_signup_is_limited_per_client(client, program, tiers, limits):
    for n in range(4):
        assert sign_up(client, program, f"kunde{n}@example.com", ip="10.0.0.9").status_code == 302
        client.logout()
    assert_too_many(sign_up(client, program, "kunde4@example.com", ip="10.0.0.9"))
    assert not Customer.objects.filter(email="kunde4@example.com").exists()
    # another client is not affected
    assert sign_up(client, program, "kunde4@example.com", ip="10.0.0.10").status_code == 302


def test_password_reset_mails_stop_at_the_limit(client, limits):
    make_customer("anna@example.com")
    for _ in range(2):
        response = client.post("/portal/password/", {"email": "anna@example.com"})
        assert response.status_code == 302
    assert len(mail.outbox) == 2
    assert_too_many(client.post("/portal/password/", {"email": "Anna@example.com"}))
    assert len(mail.outbox) == 2  # no third mail


def test_an_unknown_address_is_limited_like_a_known_one(client, limits):
    for _ in range(2):
        assert client.post("/portal/password/", {"email": "x@example.com"}).status_code == 302
    assert_too_many(client.post("/portal/password/", {"email": "x@example.com"}))


def test_confirmation_resend_is_limited(client, program, tiers, limits):
    assert sign_up(client, program, "eva@example.com").status_code == 302  # signed in now
    for _ in range(2):
        assert client.post("/portal/confirm/resend/").status_code == 302
    assert_too_many(client.post("/portal/confirm/resend/"))


def test_referral_landing_is_limited_per_client(client, membership, limits):
    url = f"/r/{membership.referral_code}/"
    for _ in range(3):
        assert client.get(url, REMOTE_ADDR="10.1.1.1").status_code == 302
    assert_too_many(client.get(url, REMOTE_ADDR="10.1.1.1"))
    assert client.get(url, REMOTE_ADDR="10.1.1.2").status_code == 302


def test_limits_hold_while_the_cache_is_unreachable(client, limits):
    cache_failed(OSError("cache down"))  # every counter now lives in the process
    try:
        for _ in range(2):
            assert client.post("/portal/password/", {"email": "y@example.com"}).status_code == 302
        assert_too_many(client.post("/portal/password/", {"email": "y@example.com"}))
    finally:
        cache_resume()


def test_the_page_speaks_english_on_request(client, limits):
    for _ in range(2):
        client.post("/en/portal/password/", {"email": "z@example.com"})
    response = client.post("/en/portal/password/", {"email": "z@example.com"})
    assert response.status_code == 429
    assert "Too many attempts" in response.content.decode()
