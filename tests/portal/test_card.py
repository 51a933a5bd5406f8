"""The card page of the portal: the card number in groups of four with its QR code, the
rotating code a till accepts (also fetched as JSON by the page's script, signed-in only,
never cached), and the PIN, set only with the customer's password."""

import re

import pytest

from programs.cards import card_number_display
from programs.errors import PinLocked, ProofInvalid
from programs.models import CardProof
from programs.services.card_proofs import pin_set, proof_check
from programs.services.memberships import membership_enroll
from tests.factories import ProgramFactory
from tests.portal.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def pin_post(portal, pin, again=None, password=PASSWORD, program="kaffee"):
    return portal.post(
        f"/portal/card/?program={program}",
        {
            "action": "set_pin",
            "pin": pin,
            "pin_again": pin if again is None else again,
            "password": password,
        },
    )


def errors(response) -> list[str]:
    form = response.context["pin_form"]
    return [message for messages in form.errors.values() for message in messages]


def test_the_card_page_shows_the_number_and_both_qr_codes(portal, membership):
    response = portal.get("/portal/card/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Ihre Mitgliedskarte" in html
    assert "Meine Karte" in html  # in the portal menu
    assert card_number_display(membership.card_number) in html  # "4063 6716 3095 1477"
    assert "Zahlen/Einlösen an der Kasse" in html
    assert html.count('<svg role="img"') == 2  # the card's QR code and the rotating one
    digits = "".join(response.context["code"]["digits"])
    assert re.fullmatch(r"\d{8}", digits)
    assert f"<span>{digits[:4]}</span><span>{digits[4:]}</span>" in html
    assert "no-store" in response["Cache-Control"]
    assert 'src="/static/portal/card.js"' in html
    assert "<script>" not in html  # no inline script (Content-Security-Policy)


def test_the_page_shows_the_card_of_the_program_chosen(portal, customer, membership):
    second, _ = membership_enroll(customer=customer, program=ProgramFactory(slug="stadtkarte"))
    html = portal.get("/portal/card/?program=stadtkarte").content.decode()
    assert card_number_display(second.card_number) in html
    assert card_number_display(membership.card_number) not in html
    html = portal.get("/portal/card/?program=kaffee").content.decode()
    assert card_number_display(membership.card_number) in html


def test_the_code_json_is_for_the_signed_in_customer_only(client, membership):
    response = client.get("/portal/card/code/")
    assert response.status_code == 302
    assert response["Location"].startswith("/portal/login/")
    assert b"svg" not in response.content


def test_the_code_json_holds_a_code_a_till_accepts(portal, membership):
    response = portal.get("/portal/card/code/")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    data = response.json()
    assert data["svg"].startswith('<svg role="img"')
    assert 30 < data["seconds_left"] <= 60
    assert 1 <= data["refresh_in"] <= 30
    assert data["valid_until"]
    proof_check(membership, {"code": "".join(data["digits"])})  # raises if refused


@pytest.mark.parametrize(
    ("pin", "again", "message"),
    [
        ("12", None, "Eine PIN hat 4 bis 6 Ziffern."),
        ("12a4", None, "Eine PIN hat 4 bis 6 Ziffern."),
        ("1234", None, "zu leicht zu erraten"),
        ("7777", None, "zu leicht zu erraten"),
        ("4826", "4862", "Die beiden PINs stimmen nicht überein."),
    ],
)
def test_a_bad_pin_is_refused_with_a_reason(portal, membership, pin, again, message):
    response = pin_post(portal, pin, again)
    assert response.status_code == 400
    assert any(message in error for error in errors(response)), errors(response)
    assert message in response.content.decode()
    assert not CardProof.objects.filter(membership=membership).exclude(pin_hash="").exists()


def test_a_wrong_password_sets_no_pin(portal, membership):
    response = pin_post(portal, "4826", password="not-my-password")
    assert response.status_code == 400
    assert "Das ist nicht Ihr Passwort." in response.content.decode()
    assert not CardProof.objects.filter(membership=membership).exclude(pin_hash="").exists()


def test_the_customer_sets_changes_and_removes_the_pin(portal, membership):
    response = pin_post(portal, "4826")
    assert response.status_code == 302
    assert response["Location"] == "/portal/card/?program=kaffee"
    proof_check(membership, {"pin": "4826"})
    html = portal.get(response["Location"]).content.decode()
    assert "Ihre PIN ist festgelegt." in html
    assert "PIN ändern" in html
    assert pin_post(portal, "5937").status_code == 302
    proof_check(membership, {"pin": "5937"})
    response = portal.post("/portal/card/?program=kaffee", {"action": "remove_pin"})
    assert response.status_code == 302
    assert CardProof.objects.get(membership=membership).pin_hash == ""
    assert "noch keine PIN festgelegt" in portal.get("/portal/card/").content.decode()


def test_a_locked_pin_is_shown_and_a_new_pin_unlocks_it(portal, membership):
    pin_set(membership, "4826")
    for _ in range(4):
        with pytest.raises(ProofInvalid):
            proof_check(membership, {"pin": "1357"})
    with pytest.raises(PinLocked):
        proof_check(membership, {"pin": "1357"})
    html = portal.get("/portal/card/").content.decode()
    assert "Zu viele falsche PINs: Ihre PIN ist bis" in html
    assert pin_post(portal, "5937").status_code == 302
    proof_check(membership, {"pin": "5937"})


def test_the_page_in_english(portal, membership):
    html = portal.get("/en/portal/card/").content.decode()
    assert "Pay or redeem at the till" in html
    assert "Your member card" in html


def test_guessing_the_password_on_the_pin_form_is_limited(portal, membership):
    for _attempt in range(10):
        response = pin_post(portal, "4821", password="wrong-guess")
        assert response.status_code == 400
    response = pin_post(portal, "4821", password=PASSWORD)  # even the right one waits now
    assert response.status_code == 429
    assert not CardProof.objects.filter(membership=membership, pin_hash__gt="").exists()
