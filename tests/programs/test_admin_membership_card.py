"""The member card on the membership admin page: the number shown as printed and found by
search however it is typed, the PIN's state, and the button that resets the PIN."""

import pytest
from django.urls import reverse

from programs.cards import card_number_display
from programs.errors import PinNotSet
from programs.models import CardProof
from programs.services.card_proofs import pin_set, proof_check
from programs.services.memberships import membership_enroll
from tests.factories import CustomerFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


def change_url(membership, name="change"):
    return reverse(f"admin:programs_membership_{name}", args=[membership.pk])


def test_the_change_page_shows_the_card_and_the_pin_state(staff_client, membership):
    html = staff_client.get(change_url(membership)).content.decode()
    assert card_number_display(membership.card_number) in html
    assert "nicht festgelegt" in html
    pin_set(membership, "4826")
    html = staff_client.get(change_url(membership)).content.decode()
    assert "festgelegt am" in html
    assert "PIN zurücksetzen" in html
    assert "4826" not in html


def test_search_finds_the_card_as_printed_or_typed(staff_client, membership, program):
    other, _ = membership_enroll(customer=CustomerFactory(), program=program)
    changelist = reverse("admin:programs_membership_changelist")
    number = membership.card_number
    for typed in (
        number,
        card_number_display(number),
        "-".join(card_number_display(number).split()),
    ):
        found = staff_client.get(changelist, {"q": typed}).context["cl"].result_list
        assert list(found) == [membership], typed
    assert other not in staff_client.get(changelist, {"q": number}).context["cl"].result_list


def test_staff_reset_the_pin(staff_client, membership):
    pin_set(membership, "4826")
    url = change_url(membership, "reset_pin")
    page = staff_client.get(url)
    assert page.status_code == 200
    assert card_number_display(membership.card_number) in page.content.decode()
    response = staff_client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == change_url(membership)
    assert "Die PIN ist zurückgesetzt." in response.content.decode()
    assert CardProof.objects.get(membership=membership).pin_hash == ""
    with pytest.raises(PinNotSet):
        proof_check(membership, {"pin": "4826"})


def test_resetting_a_pin_needs_the_change_permission(client, membership):
    client.force_login(StaffFactory(is_superuser=False))
    assert client.get(change_url(membership, "reset_pin")).status_code == 403
    assert client.post(change_url(membership, "reset_pin")).status_code == 403
