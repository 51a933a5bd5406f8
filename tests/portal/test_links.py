"""The portal page where a customer answers a partner that gave their e-mail address for
one of its customers (``link_claims``): confirm merges, decline keeps them apart, and only
the addressed customer can answer."""

import pytest

from programs.models import LinkClaim, Membership, PartnerCustomer
from programs.services.partner_members import partner_member_upsert

pytestmark = pytest.mark.django_db


@pytest.fixture
def claim(partner, program, membership, buy):
    """The partner enrolled 'k-7' with Anna's address and posted a purchase for it."""
    result = partner_member_upsert(
        partner=partner,
        external_id="k-7",
        fields={"email": "anna@example.com", "first_name": "Anna"},
        programs=[program],
    )
    buy(Membership.objects.get(customer=result.link.customer), "20.00")
    return LinkClaim.objects.get(link=result.link)


def test_the_page_shows_the_request_with_both_answers(portal, claim, partner):
    html = portal.get("/portal/links/").content.decode()
    assert f"{partner.name} möchte Ihr Konto verknüpfen" in html
    assert "anna@example.com" in html
    assert 'value="confirm"' in html
    assert 'value="decline"' in html


def test_confirming_moves_the_points_and_the_link(portal, claim, membership, partner):
    response = portal.post("/portal/links/", {"claim": claim.pk, "answer": "confirm"}, follow=True)
    assert "Verknüpft" in response.content.decode()
    membership.refresh_from_db()
    assert membership.pending == 20  # the purchase's points, still in the return window
    assert PartnerCustomer.objects.get(external_id="k-7").customer == membership.customer
    assert "No partner is waiting" not in portal.get("/portal/links/").content.decode()
    assert "Kein Partner wartet auf Ihre Antwort." in portal.get("/portal/links/").content.decode()


def test_declining_keeps_the_partner_member_apart(portal, claim, membership):
    portal.post("/portal/links/", {"claim": claim.pk, "answer": "decline"})
    claim.refresh_from_db()
    assert claim.declined_at is not None
    assert PartnerCustomer.objects.get(external_id="k-7").customer != membership.customer


def test_another_customer_cannot_answer(client, claim, other_membership):
    client.force_login(other_membership.customer.user)
    response = client.post("/portal/links/", {"claim": claim.pk, "answer": "confirm"}, follow=True)
    assert "Für Ihr Konto gibt es keine solche Anfrage." in response.content.decode()
    claim.refresh_from_db()
    assert claim.is_open


def test_the_page_needs_a_login(client):
    response = client.get("/portal/links/")
    assert response.status_code == 302
    assert "/portal/login/" in response["Location"]


def test_the_dashboard_points_to_an_open_request(portal, claim, partner):
    html = portal.get("/portal/").content.decode()
    assert f"{partner.name} möchte Ihr Konto verknüpfen" in html
    assert 'href="/portal/links/"' in html
    claim.declined_at = claim.created_at
    claim.save()
    assert 'data-testid="link-claim"' not in portal.get("/portal/").content.decode()
