"""A hold spends the customer's points, so it needs their proof that they are at the till:
the portal's rotating code (works once) or their PIN (locks after five wrong ones, which
count although each request failed). A quote spends nothing and needs none.

The member c-1 of partner A has 300 points and the PIN 4826."""

import pytest

from programs.models import CardProof, Membership, PointsHold
from programs.services.card_proofs import code_current, pin_set
from programs.services.memberships import membership_enroll
from tests.api.conftest import assert_problem
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

PIN = "4826"


@pytest.fixture(autouse=True)
def _member_pin(member):
    pin_set(member, PIN)


def place(api, proof, *, key, amount="1.00"):
    body = {"amount": amount}
    if proof is not None:
        body["proof"] = proof
    return api.post("/api/v1/members/c-1/holds", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def held(member) -> tuple[int, int]:
    member = Membership.objects.get(pk=member.pk)
    return member.balance, member.held


def test_a_hold_without_proof_is_refused_and_says_what_to_send(api, member):
    body = assert_problem(place(api, None, key="k-1"), 403, "proof_required")
    assert "proof.code" in body["detail"]
    assert "proof.pin" in body["detail"]
    # the key is free again after a refusal; an empty proof is no proof
    assert_problem(place(api, {"code": "", "pin": ""}, key="k-1"), 403, "proof_required")
    assert not PointsHold.objects.exists()
    assert held(member) == (300, 0)


def test_wrong_pins_count_and_lock_although_each_request_failed(api, member):
    for attempt in range(4):
        assert_problem(place(api, {"pin": "1357"}, key=f"k-{attempt}"), 403, "proof_invalid")
    locked = assert_problem(place(api, {"pin": "1357"}, key="k-4"), 403, "pin_locked")
    assert locked["locked_until"]
    # locked: the right PIN is refused as well, and the refusal adds no failure
    assert_problem(place(api, {"pin": PIN}, key="k-5"), 403, "pin_locked")
    assert CardProof.objects.get(membership=member).pin_failures == 5
    assert not PointsHold.objects.exists()
    # the rotating code still works
    code, _ = code_current(member)
    assert place(api, {"code": code}, key="k-6").status_code == 201


def test_the_right_pin_after_wrong_ones_starts_the_count_again(api, member):
    assert_problem(place(api, {"pin": "1357"}, key="k-1"), 403, "proof_invalid")
    assert place(api, {"pin": PIN}, key="k-2").status_code == 201
    assert CardProof.objects.get(membership=member).pin_failures == 0


def test_a_code_works_once(api, member):
    code, _ = code_current(member)
    assert place(api, {"code": code}, key="k-1").status_code == 201
    assert_problem(place(api, {"code": code}, key="k-2"), 403, "proof_invalid")
    assert PointsHold.objects.count() == 1
    assert held(member) == (200, 100)


def test_a_retry_with_the_same_key_and_the_used_code_replays_the_first_answer(api, member):
    code, _ = code_current(member)
    first = place(api, {"code": code}, key="k-1")
    again = place(api, {"code": code}, key="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert held(member) == (200, 100)


def test_a_hold_that_fails_does_not_use_the_code_up(api, member):
    code, _ = code_current(member)
    assert_problem(place(api, {"code": code}, key="k-1", amount="5.00"), 409, "insufficient_points")
    assert place(api, {"code": code}, key="k-2").status_code == 201


def test_another_card_s_code_is_no_proof(api, member):
    other, _ = membership_enroll(customer=CustomerFactory(), program=member.program)
    code, _ = code_current(other)
    assert_problem(place(api, {"code": code}, key="k-1"), 403, "proof_invalid")
    digits = code.split(".")[1]
    assert_problem(place(api, {"code": digits}, key="k-1"), 403, "proof_invalid")


def test_a_quote_needs_no_proof(api, member):
    response = api.post("/api/v1/members/c-1/quotes", {"amount": "1.00"}, format="json")
    assert response.status_code == 200, response.json()
