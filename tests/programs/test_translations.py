"""German for members and staff, English for partner integrations.

The programs catalogue (programs/locale/de) makes domain errors and admin labels German by
default; the partner API keeps English unless the client asks for another language.
"""

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import translation

from loyalty_site.portal.wording import error_text
from programs import errors
from programs.models import Redemption
from programs.services.memberships import membership_enroll
from tests.api.conftest import assert_problem, client_for, enroll
from tests.factories import RewardFactory, StaffFactory
from tests.portal.conftest import make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _german_by_default(settings):
    settings.LANGUAGE_CODE = "de"


def _all_errors(cls=errors.LoyaltyError):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_errors(sub)


@pytest.mark.parametrize("error", list(_all_errors()), ids=lambda e: e.code)
def test_every_domain_error_has_a_german_text(error):
    with translation.override("en"):
        english = str(error().message)
    with translation.override("de"):
        german = str(error().message)
    assert german != english, f"{error.__name__} has no German translation"


def test_an_error_the_portal_has_no_own_words_for_is_german_too():
    with translation.override("de"):
        text = error_text(errors.IdempotencyConflict())
    assert text == "Dieser Schlüssel wurde bereits für eine andere Anfrage verwendet."


# --- Portal: the redeem flow -------------------------------------------------------------


@pytest.fixture
def poor_member(program, tiers):
    customer = make_customer("anna@example.com")
    return membership_enroll(customer=customer, program=program)[0]


def _redeem(client, reward, prefix=""):
    page = client.get(f"{prefix}/portal/rewards/{reward.pk}/redeem/")
    assert page.status_code == 200
    return client.post(
        f"{prefix}/portal/rewards/{reward.pk}/redeem/",
        {"token": page.context["token"]},
        follow=True,
    )


def test_german_member_who_cannot_afford_a_reward_reads_german(client, poor_member, program):
    reward = RewardFactory(program=program, name="Cappuccino", points_cost=150)
    client.force_login(poor_member.customer.user)
    html = _redeem(client, reward).content.decode()
    assert "Für diese Prämie haben Sie noch nicht genug Punkte." in html
    assert "enough points" not in html
    assert not Redemption.objects.exists()


def test_the_same_refusal_in_english_on_request(client, poor_member, program):
    reward = RewardFactory(program=program, name="Cappuccino", points_cost=150)
    client.force_login(poor_member.customer.user)
    html = _redeem(client, reward, prefix="/en").content.decode()
    assert "You do not have enough points for this reward yet." in html


def test_out_of_stock_reward_is_refused_in_german(client, poor_member, program):
    reward = RewardFactory(program=program, name="Becher", points_cost=1, stock=0)
    client.force_login(poor_member.customer.user)
    html = _redeem(client, reward).content.decode()
    assert "leider vergriffen" in html


# --- Admin ---------------------------------------------------------------------------------


def test_membership_change_page_has_german_labels(client, membership):
    client.force_login(StaffFactory())
    response = client.get(reverse("admin:programs_membership_change", args=[membership.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    for label in ("Verfügbare Punkte", "Empfehlungscode", "Negativer Punktestand", "Stufe"):
        assert label in html, label
    assert "Referral code" not in html
    assert "Negative balance" not in html


# --- Partner API ---------------------------------------------------------------------------


@pytest.fixture
def api(partner):
    cache.clear()  # fresh rate limits
    return client_for(partner)


@pytest.fixture
def dear_reward(program, tiers):
    return RewardFactory(program=program, name="dear", points_cost=1000)


def test_api_domain_error_is_english_without_accept_language(api, program, dear_reward):
    enroll(api, "c-1", programs=(program.slug,))
    body = assert_problem(
        api.post("/api/v1/members/c-1/redemptions", {"reward": dear_reward.pk}),
        409,
        "insufficient_points",
    )
    assert body["title"] == "Not enough points available."
    assert body["detail"] == "This reward costs 1000 points; 0 are available."


def test_api_unknown_endpoint_is_english_although_the_site_speaks_german(api):
    # Not a PartnerAPIView: only the exception handler keeps LANGUAGE_CODE "de" out.
    body = assert_problem(api.get("/api/v1/nothing/here"), 404, "endpoint_not_found")
    assert body["title"] == "Not found."


def test_api_speaks_german_only_when_asked(api, program, dear_reward):
    # The API's documented contract (PartnerAPIView.initial, tests/api/test_errors.py):
    # English unless the client sends Accept-Language. The body is then one language.
    enroll(api, "c-1", programs=(program.slug,))
    response = api.post(
        "/api/v1/members/c-1/redemptions", {"reward": dear_reward.pk}, HTTP_ACCEPT_LANGUAGE="de"
    )
    body = assert_problem(response, 409, "insufficient_points")
    assert body["title"] == "Nicht genügend Punkte verfügbar."
    assert body["detail"] == "Diese Prämie kostet 1000 Punkte; verfügbar sind 0."


def test_front_page_is_german_by_default_and_english_on_request(client):
    assert "Willkommen auf der Treueplattform" in client.get("/").content.decode()
    assert "Welcome to the loyalty platform" in client.get("/en/").content.decode()
