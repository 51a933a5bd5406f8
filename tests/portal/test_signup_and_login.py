import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from customers.models import Customer
from loyalty_site.portal.models import EmailConfirmation
from programs.models import Membership, Referral, ReferralStatus
from tests.portal.conftest import PASSWORD, make_customer

pytestmark = pytest.mark.django_db

SIGNUP = {
    "first_name": "Clara",
    "last_name": "Neu",
    "email": "Clara.Neu@example.com",
    "password": "kaffee-und-kuchen-42",
    "language": "de",
    "terms": "on",
}


def _link(message) -> str:
    return re.search(r"https?://\S+", message.body).group(0)


def test_enrollment_link_signs_up_enrolls_and_sends_a_german_confirmation(
    client, program, tiers, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/portal/join/{program.slug}/", SIGNUP)
    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    customer = Customer.objects.get(email="Clara.Neu@example.com")
    assert customer.user.username == "clara.neu@example.com"
    assert Membership.objects.filter(customer=customer, program=program).exists()
    assert len(mail.outbox) == 1
    assert mail.outbox[0].subject == "Bitte bestätigen Sie Ihre E-Mail-Adresse"
    page = client.get("/portal/")
    assert "Bitte bestätigen Sie Ihre E-Mail-Adresse" in page.content.decode()
    # The link from the e-mail confirms the address.
    response = client.get(_link(mail.outbox[0]))
    assert response.status_code == 302
    assert EmailConfirmation.objects.get(user=customer.user).confirmed_at is not None


def test_signup_in_english_sends_an_english_confirmation(
    client, program, tiers, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/en/portal/join/{program.slug}/", {**SIGNUP, "language": "en"})
    assert response["Location"] == "/en/portal/"
    assert mail.outbox[0].subject == "Please confirm your e-mail address"


def test_signup_refuses_a_taken_address_and_a_weak_password(client, program, tiers, customer):
    taken = client.post(f"/portal/join/{program.slug}/", {**SIGNUP, "email": "ANNA@example.com"})
    assert taken.status_code == 200
    assert "Es gibt bereits ein Konto" in taken.content.decode()
    weak = client.post(f"/portal/join/{program.slug}/", {**SIGNUP, "password": "12345678"})
    assert weak.status_code == 200
    assert weak.context["form"].errors["password"]
    assert not get_user_model().objects.filter(email__iexact=SIGNUP["email"]).exists()


def test_unknown_or_inactive_program_link_is_404(client, program):
    assert client.get("/portal/join/gibt-es-nicht/").status_code == 404
    program.is_active = False
    program.save()
    assert client.get(f"/portal/join/{program.slug}/").status_code == 404


def test_referral_link_leads_to_signup_and_registers_the_referral(client, membership):
    response = client.get(f"/r/{membership.referral_code.lower()}/")
    assert response.status_code == 302
    assert response["Location"].endswith(f"?ref={membership.referral_code}")
    page = client.get(response["Location"])
    assert "Anna hat Sie eingeladen" in page.content.decode()
    client.post(response["Location"], SIGNUP)
    referral = Referral.objects.get(referrer=membership)
    assert referral.status == ReferralStatus.SIGNED_UP
    assert referral.referee.customer.email == "Clara.Neu@example.com"


def test_unknown_referral_code_is_a_friendly_404(client, db):
    response = client.get("/r/NOPE1234/")
    assert response.status_code == 404
    assert "Einladung nicht gefunden" in response.content.decode()


def test_existing_customer_is_linked_only_after_confirming_the_mailbox(
    client, program, tiers, django_capture_on_commit_callbacks
):
    known = Customer.objects.create(email="clara.neu@example.com", first_name="Clara")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/portal/join/{program.slug}/", SIGNUP)
    known.refresh_from_db()
    assert known.user is None  # not before the mailbox is proven
    assert client.get("/portal/").status_code == 403
    client.get(_link(mail.outbox[0]))
    known.refresh_from_db()
    assert known.user.username == "clara.neu@example.com"
    assert Membership.objects.filter(customer=known, program=program).exists()


def test_broken_confirmation_link_is_400(client, db):
    response = client.get("/portal/confirm/not-a-token/")
    assert response.status_code == 400
    assert "ungültig" in response.content.decode()


def test_login_by_email_any_case_goes_to_the_dashboard_in_the_customers_language(client, db):
    make_customer("ben@example.com", first_name="Ben", language="en")
    response = client.post("/portal/login/", {"username": "BEN@Example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/en/portal/"
    assert response.cookies["django_language"].value == "en"


def test_wrong_password_shows_an_error(client, customer):
    response = client.post("/portal/login/", {"username": customer.email, "password": "nope"})
    assert response.status_code == 200
    assert "E-Mail-Adresse oder Passwort ist falsch" in response.content.decode()


def test_repeated_failures_lock_the_login_even_with_the_right_password(client, customer, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/portal/login/", {"username": customer.email, "password": "falsch"})
    locked = client.post("/portal/login/", {"username": customer.email, "password": PASSWORD})
    assert locked.status_code == 429
    assert "Zu viele Versuche" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_logout_needs_post_and_ends_the_session(portal):
    response = portal.post("/portal/logout/")
    assert response.status_code == 302
    assert portal.get("/portal/").status_code == 302  # back to the login


def test_anonymous_visitor_is_sent_to_login(client, db):
    response = client.get("/portal/rewards/")
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/login/?next=/portal/rewards/")


def test_password_reset_by_email(client, customer):
    response = client.post("/portal/password/", {"email": "ANNA@example.com"})
    assert response["Location"] == "/portal/password/sent/"
    assert mail.outbox[0].subject == "Passwort zurücksetzen"
    link = _link(mail.outbox[0])
    form = client.get(link, follow=True)
    assert form.context["validlink"]
    new = "ein-neues-langes-passwort"
    done = client.post(form.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert done["Location"] == "/portal/password/done/"
    customer.user.refresh_from_db()
    assert customer.user.check_password(new)


def test_staff_login_without_customer_record_gets_a_403_page(client, db):
    from tests.factories import StaffFactory

    client.force_login(StaffFactory())
    assert client.get("/portal/").status_code == 403


def test_front_page_sends_customers_to_their_dashboard(portal, client):
    assert portal.get("/")["Location"] == "/portal/"
    portal.logout()
    home = client.get("/")
    assert home.status_code == 200
    assert 'href="/admin/"' in home.content.decode()


def test_resend_confirmation_sends_a_new_link(
    client, program, tiers, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://loyalty.example.com"
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/portal/join/{program.slug}/", SIGNUP)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/portal/confirm/resend/")
    assert response["Location"] == "/portal/"
    assert len(mail.outbox) == 2
    assert _link(mail.outbox[1]).startswith("https://loyalty.example.com/portal/confirm/")


def test_signed_in_customer_joins_another_program_from_its_link(portal, membership):
    from tests.factories import ProgramFactory

    city = ProgramFactory(name="Stadtkarte", slug="stadt")
    page = portal.get("/portal/join/stadt/")
    assert "Jetzt beitreten" in page.content.decode()
    response = portal.post("/portal/join/stadt/")
    assert response["Location"] == "/portal/?program=stadt"
    assert Membership.objects.filter(customer=membership.customer, program=city).exists()
    assert "bereits Mitglied" in portal.get("/portal/join/stadt/").content.decode()
