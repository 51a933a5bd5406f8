"""The partner API's hot paths (balance reads, single purchases): few queries, same answers."""

import pytest
from rest_framework.test import APIClient

from programs.models import Purchase
from programs.services.api_keys import api_key_revoke
from tests.api.conftest import assert_problem, buy, enroll
from tests.factories import ProgramFactory


@pytest.fixture
def kaffee(partner):
    other = ProgramFactory(slug="kaffee", name="Kaffee")
    partner.programs.add(other)
    return other


def test_balance_read_costs_four_queries(api, member, django_assert_max_num_queries):
    api.get("/api/v1/members/c-1/balance")  # the key is now cached
    # one for member, memberships and tiers; expiring points; qualifying value; tiers
    with django_assert_max_num_queries(4):
        response = api.get("/api/v1/members/c-1/balance")
    [balance] = response.json()["programs"]
    assert response.json()["external_id"] == "c-1"
    assert (balance["program"], balance["available"]) == ("treue", 300)
    assert balance["tier"] == {"name": "Bronze", "rank": 0}
    assert balance["tier_progress"]["next_tier"]["name"] == "Silber"


def test_balance_lists_each_program_or_the_one_asked_for(api, member, kaffee):
    enroll(api, "c-1", programs=["treue", "kaffee"])
    programs = api.get("/api/v1/members/c-1/balance").json()["programs"]
    assert [(p["program"], p["available"]) for p in programs] == [("kaffee", 0), ("treue", 300)]
    only = api.get("/api/v1/members/c-1/balance?program=treue").json()["programs"]
    assert [p["program"] for p in only] == ["treue"]


def test_balance_errors_are_unchanged(api, api_b, member, member_b, kaffee):
    assert_problem(api.get("/api/v1/members/nobody/balance"), 404, "member_not_found")
    assert_problem(api.get("/api/v1/members/m-1/balance"), 404, "member_not_found")  # B's
    unknown = assert_problem(
        api.get("/api/v1/members/c-1/balance?program=nope"), 400, "validation_error"
    )
    assert "None of your programs has this slug" in unknown["detail"]
    response = api.get("/api/v1/members/c-1/balance?program=kaffee")
    assert response.status_code == 422
    enroll(api, "c-none", programs=[])
    assert api.get("/api/v1/members/c-none/balance").json()["programs"] == []


def test_revoked_key_is_refused_at_once_although_cached(api, member):
    assert api.get("/api/v1/members/c-1/balance").status_code == 200
    assert api.get("/api/v1/members/c-1/balance").status_code == 200  # served from cache
    api_key_revoke(api_key=api.api_key)
    assert_problem(api.get("/api/v1/members/c-1/balance"), 401, "invalid_api_key")


def test_a_cached_key_still_needs_the_right_secret(api, member):
    assert api.get("/api/v1/members/c-1/balance").status_code == 200
    forged = api.plaintext[:-1] + ("A" if api.plaintext[-1] != "A" else "B")
    response = APIClient().get("/api/v1/members/c-1/balance", HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert_problem(response, 401, "invalid_api_key")


def test_single_purchase_costs_few_queries(api, member, django_assert_max_num_queries):
    body = {"member": "c-1", "order_id": "q-1", "amount": "12.50"}
    # member lookup 1, program check, existing order, earn rules, campaigns, insert
    # (+ its savepoint pair): at most 8; the key comes from the cache
    with django_assert_max_num_queries(8):
        response = api.post("/api/v1/purchases", body, format="json")
    assert response.status_code == 202
    assert Purchase.objects.filter(order_id="q-1", membership=member).exists()


def test_created_purchase_answer_equals_the_stored_purchase(api, member):
    body = {
        "member": "c-1",
        "order_id": "q-lines",
        "amount": "30.00",
        "lines": [
            {"sku": "TEA-1", "category": "tea", "quantity": 2, "unit_price": "10.00"},
            {"sku": "CUP-1", "category": "cups", "quantity": 1, "unit_price": "10.00"},
        ],
    }
    created = api.post("/api/v1/purchases", body, format="json")
    assert created.status_code == 202
    stored = api.get(created["Location"]).json()
    assert created.json() == stored
    assert [line["line_no"] for line in stored["lines"]] == [1, 2]

    plain = api.post(
        "/api/v1/purchases", {"member": "c-1", "order_id": "q-2", "amount": "5"}, format="json"
    )
    assert plain.json() == api.get(plain["Location"]).json()
    assert plain.json()["lines"] == []
    assert plain.json()["refunds"] == []

    again = api.post("/api/v1/purchases", body, format="json")
    assert (again.status_code, again.json()) == (200, stored)


def test_purchase_for_a_member_in_two_programs(api, member, kaffee):
    enroll(api, "c-1", programs=["treue", "kaffee"])
    body = {"member": "c-1", "order_id": "two-1", "amount": "10.00"}
    assert_problem(api.post("/api/v1/purchases", body, format="json"), 400, "validation_error")
    response = api.post("/api/v1/purchases", {**body, "program": "kaffee"}, format="json")
    assert (response.status_code, response.json()["program"]) == (202, "kaffee")


def test_purchase_errors_are_unchanged(api, api_b, member, member_b):
    body = {"order_id": "e-1", "amount": "10.00"}
    missing = api.post("/api/v1/purchases", {**body, "member": "nobody"}, format="json")
    assert_problem(missing, 400, "validation_error")
    assert "enroll them first" in str(missing.json())
    theirs = api.post("/api/v1/purchases", {**body, "member": "m-1"}, format="json")
    assert_problem(theirs, 400, "validation_error")
    unknown = api.post(
        "/api/v1/purchases", {**body, "member": "c-1", "program": "x"}, format="json"
    )
    assert_problem(unknown, 400, "validation_error")


def test_idempotent_purchase_replays_the_first_answer(api, member):
    body = {"member": "c-1", "order_id": "idem-1", "amount": "10.00"}
    first = api.post("/api/v1/purchases", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("/api/v1/purchases", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Purchase.objects.filter(order_id="idem-1").count() == 1
    buy(api, "c-1", "1.00", order_id="after")  # the key's partner is still served
