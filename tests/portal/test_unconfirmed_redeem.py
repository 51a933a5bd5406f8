"""A member whose address is not confirmed yet sees no redeem button: the page says why and
offers to send the confirmation link again."""

import pytest
from django.core import mail
from django.utils import timezone

from loyalty_site.portal.models import EmailConfirmation
from programs.services.due import points_release_due

pytestmark = pytest.mark.django_db


@pytest.fixture
def rich(membership, buy):
    buy(membership, "300.00", days_ago=20)
    points_release_due(timezone.now())
    return membership


@pytest.fixture
def unconfirmed(customer):
    return EmailConfirmation.objects.create(user=customer.user, email=customer.email)


def test_confirmed_members_see_the_redeem_button(portal, rich, reward):
    html = portal.get("/portal/rewards/").content.decode()
    assert f'href="/portal/rewards/{reward.pk}/redeem/"' in html


def test_unconfirmed_members_see_why_instead_of_the_button(portal, rich, reward, unconfirmed):
    html = portal.get("/portal/rewards/").content.decode()
    assert f'href="/portal/rewards/{reward.pk}/redeem/"' not in html
    assert "Einlösbar, sobald Ihre E-Mail-Adresse bestätigt ist" in html
    assert 'href="#email-unconfirmed"' in html
    assert 'id="email-unconfirmed"' in html
    assert 'action="/portal/confirm/resend/"' in html


def test_the_redeem_page_explains_and_has_no_form(portal, rich, reward, unconfirmed):
    html = portal.get(f"/portal/rewards/{reward.pk}/redeem/").content.decode()
    assert "sobald Sie Ihre E-Mail-Adresse bestätigt haben" in html
    assert "Ja, jetzt einlösen" not in html


def test_resending_the_link_returns_to_the_page(
    portal, rich, reward, unconfirmed, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = portal.post("/portal/confirm/resend/", {"next": "/portal/rewards/"})
    assert response.status_code == 302
    assert response["Location"] == "/portal/rewards/"
    assert len(mail.outbox) == 1
    elsewhere = portal.post("/portal/confirm/resend/", {"next": "https://evil.example.com/"})
    assert elsewhere["Location"] == "/portal/"
