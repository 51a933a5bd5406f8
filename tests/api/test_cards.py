"""Member cards at a till: a card number finds the member within the partner's programs
only, a mistyped one is refused with how to fix it, and linking the card's customer
needs their proof (the portal's rotating code or their PIN).

Partners A (web shop) and B (merchant) take part in "treue"; A has linked the member c-1
(300 points). The kiosk takes part only in "stadtkarte"."""

import pytest

from programs.cards import card_number_display, luhn_check_digit
from programs.models import CardProof, Membership, PartnerCustomer
from programs.services.card_proofs import code_current, pin_set
from programs.services.memberships import membership_enroll
from tests.api.conftest import assert_problem, client_for
from tests.factories import PartnerFactory, ProgramFactory

pytestmark = pytest.mark.django_db

PIN = "4826"


@pytest.fixture
def city_card(db):
    return ProgramFactory(slug="stadtkarte", name="Stadtkarte")


@pytest.fixture
def kiosk(city_card):
    return client_for(PartnerFactory(slug="kiosk", name="Kiosk", programs=[city_card]))


def card(client, number):
    return client.get(f"/api/v1/cards/{number}")


def link(client, number, external_id, proof=None, **headers):
    body = {"external_id": external_id}
    if proof is not None:
        body["proof"] = proof
    return client.post(f"/api/v1/cards/{number}/link", body, format="json", **headers)


def unknown_card_number() -> str:
    """A well-formed number no membership has."""
    body = "999999999999999"
    while True:
        number = body + luhn_check_digit(body)
        if not Membership.objects.filter(card_number=number).exists():
            return number
        body = str(int(body) - 1)


def test_a_till_finds_its_member_by_the_number_as_printed(api, member):
    printed = card_number_display(member.card_number)  # "4063 6716 3095 1477"
    response = card(api, printed)
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "card_number": member.card_number,
        "program": "treue",
        "status": "active",
        "tier": {"name": member.tier.name, "rank": member.tier.rank},
        "available": 300,
        "held": 0,
        "debt": 0,
        "external_id": "c-1",
        "linked": True,
    }
    hyphens = printed.replace(" ", "-")
    assert card(api, hyphens).json()["external_id"] == "c-1"
    # ... and the member answer names the card
    (membership,) = api.get("/api/v1/members/c-1").json()["memberships"]
    assert membership["card_number"] == member.card_number


def test_another_partner_of_the_program_sees_the_card_but_not_the_customer(api_b, member):
    body = card(api_b, member.card_number).json()
    assert (body["external_id"], body["linked"], body["available"]) == (None, False, 300)
    assert not {"email", "first_name", "last_name", "memberships"} & set(body)


def test_a_mistyped_number_is_refused_with_how_to_fix_it(api, member):
    number = member.card_number
    last_digit_off = number[:-1] + str((int(number[-1]) + 1) % 10)
    # two different neighbours swapped (but not 0 and 9: the one swap Luhn cannot see)
    i = next(
        i for i in range(15) if number[i] != number[i + 1] and number[i : i + 2] not in ("09", "90")
    )
    swapped = number[:i] + number[i + 1] + number[i] + number[i + 2 :]
    for wrong in (last_digit_off, swapped, number[:-1], "card-please"):
        body = assert_problem(card(api, wrong), 400, "card_number_invalid")
        assert "16 digits" in body["detail"]
        assert "QR code" in body["detail"]
    german = api.get(f"/api/v1/cards/{last_digit_off}", HTTP_ACCEPT_LANGUAGE="de")
    assert "16 Ziffern" in assert_problem(german, 400, "card_number_invalid")["detail"]


def test_the_lookup_keeps_to_each_partner_s_programs(api, kiosk, member, city_card):
    in_city, _ = membership_enroll(customer=member.customer, program=city_card)
    assert card(kiosk, in_city.card_number).json()["program"] == "stadtkarte"
    assert card(api, member.card_number).json()["program"] == "treue"
    # each partner's answer for the other program's card is that of no card at all
    for client, number in ((api, in_city.card_number), (kiosk, member.card_number)):
        refused = assert_problem(card(client, number), 404, "card_not_found")
        unknown = assert_problem(card(client, unknown_card_number()), 404, "card_not_found")
        assert (refused["title"], refused["detail"]) == (unknown["title"], unknown["detail"])


def test_linking_with_the_rotating_code(api_b, member):
    code, _ = code_current(member)
    response = link(api_b, member.card_number, "m-77", {"code": code})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["external_id"] == "m-77"
    assert body["email"] == "c-1@example.com"
    assert [m["card_number"] for m in body["memberships"]] == [member.card_number]
    assert api_b.get("/api/v1/members/m-77").json() == body
    assert card(api_b, member.card_number).json()["external_id"] == "m-77"
    # the same link again answers the same, without a new proof (the code is used up)
    again = link(api_b, member.card_number, "m-77", {"code": code})
    assert (again.status_code, again.json()) == (200, body)
    assert link(api_b, member.card_number, "m-77").status_code == 200


def test_linking_with_the_pin(api_b, member):
    pin_set(member, PIN)
    assert_problem(link(api_b, member.card_number, "m-78", {"pin": "1357"}), 403, "proof_invalid")
    assert CardProof.objects.get(membership=member).pin_failures == 1  # counted, though refused
    response = link(api_b, member.card_number, "m-78", {"pin": PIN})
    assert response.status_code == 201, response.json()
    assert PartnerCustomer.objects.get(external_id="m-78").customer == member.customer


def test_a_card_number_alone_links_nothing(api_b, member):
    body = assert_problem(link(api_b, member.card_number, "m-79"), 403, "proof_required")
    assert "proof.code" in body["detail"]
    assert_problem(link(api_b, member.card_number, "m-79", {"pin": PIN}), 403, "pin_not_set")
    assert_problem(
        link(api_b, member.card_number, "m-79", {"code": "12345678"}), 403, "proof_invalid"
    )
    assert_problem(api_b.get("/api/v1/members/m-79"), 404, "member_not_found")


def test_conflicts_are_refused_before_the_code_is_used(api, api_b, member, member_b):
    code, _ = code_current(member)
    # A knows this customer as c-1 already
    body = assert_problem(
        link(api, member.card_number, "c-2", {"code": code}), 409, "member_already_linked"
    )
    assert "'c-1'" in body["detail"]
    # B's external id m-1 names another member
    assert_problem(link(api_b, member.card_number, "m-1", {"code": code}), 409, "external_id_taken")
    # the code was not used by the refusals
    assert link(api_b, member.card_number, "m-80", {"code": code}).status_code == 201


def test_a_partner_outside_the_program_learns_nothing_and_uses_no_code(kiosk, api_b, member):
    code, _ = code_current(member)
    for response in (
        card(kiosk, member.card_number),
        link(kiosk, member.card_number, "k-1", {"code": code}),
    ):
        body = assert_problem(response, 404, "card_not_found")
        assert member.card_number not in body["detail"]
    assert not PartnerCustomer.objects.filter(external_id="k-1").exists()
    assert link(api_b, member.card_number, "m-81", {"code": code}).status_code == 201


def test_scopes_and_bad_external_ids(partner, api, api_b, member):
    reader = client_for(partner, scopes=("read",))
    assert card(reader, member.card_number).status_code == 200
    assert_problem(link(reader, member.card_number, "x"), 403, "insufficient_scope")
    for bad in ("with space", "a/b", "", "x" * 101):
        body = assert_problem(
            link(api_b, member.card_number, bad, {"pin": PIN}), 400, "validation_error"
        )
        assert body["errors"][0]["field"] == "external_id"


def test_an_idempotent_link_replays_its_first_answer(api_b, member):
    code, _ = code_current(member)
    first = link(api_b, member.card_number, "m-82", {"code": code}, HTTP_IDEMPOTENCY_KEY="l-1")
    again = link(api_b, member.card_number, "m-82", {"code": code}, HTTP_IDEMPOTENCY_KEY="l-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
