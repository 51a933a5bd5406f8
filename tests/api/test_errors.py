"""One error shape (problem details) for every kind of bad request, and never a 500."""

import json

import pytest
from django.test import override_settings

from customers.models import Customer
from programs.models import PartnerCustomer, Purchase
from programs.services.memberships import membership_enroll
from tests.api.conftest import assert_problem, enroll
from tests.factories import PartnerFactory, ProgramFactory


def purchase(**fields):
    return {"member": "c-1", "order_id": "o-1", "amount": "10.00", **fields}


def test_unknown_field_is_refused_and_named(api, member):
    response = api.post("/api/v1/purchases", purchase(colour="red", coupon="X"))
    body = assert_problem(response, 400, "validation_error")
    fields = {e["field"]: e for e in body["errors"]}
    assert set(fields) == {"colour", "coupon"}
    assert fields["colour"]["code"] == "unknown_field"
    assert fields["colour"]["pointer"] == "#/colour"
    assert "Accepted fields: amount, currency, lines" in fields["colour"]["detail"]
    assert not Purchase.objects.filter(order_id="o-1").exists()


def test_unknown_nested_field_is_refused_with_its_path(api, member):
    lines = [{"sku": "A", "unit_price": "10.00", "discount": "1.00"}]
    body = assert_problem(
        api.post("/api/v1/purchases", purchase(lines=lines)), 400, "validation_error"
    )
    assert body["errors"][0]["field"] == "lines.0.discount"
    assert body["errors"][0]["pointer"] == "#/lines/0/discount"


@pytest.mark.parametrize(
    "field", ["balance", "tier", "id", "available", "debt", "partner", "external_id"]
)
def test_no_mass_assignment_on_members(api, member, field):
    body = assert_problem(api.put("/api/v1/members/c-1", {field: 100000}), 400, "validation_error")
    assert body["errors"][0]["code"] == "unknown_field"
    member.refresh_from_db()
    assert member.balance == 300


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("10.005", "max_decimal_places"),
        (10.005, "max_decimal_places"),
        ("0", "not_positive"),
        ("0.00", "not_positive"),
        ("-5.00", "min_value"),
        ("abc", "invalid"),
        ("NaN", "invalid"),
        ("Infinity", "invalid"),
        (True, "invalid"),
        (None, "null"),
        ("", "invalid"),
        ("1e400", "invalid"),
        ("1E+2", "invalid"),
        (" 10.00", "invalid"),
        ("10.00 ", "invalid"),
        ("1_000", "invalid"),
        ("+10", "invalid"),
        ("1" * 30, "max_digits"),
        ([], "invalid"),
        ({"value": 1}, "invalid"),
    ],
)
def test_bad_amounts_are_400(api, member, amount, code):
    body = assert_problem(
        api.post("/api/v1/purchases", purchase(amount=amount)), 400, "validation_error"
    )
    assert body["errors"][0]["field"] == "amount"
    assert body["errors"][0]["code"] == code


@pytest.mark.parametrize("amount", ["10", 10, "10.5", 10.5, "10.50", 1e1, "010.00", ".5"])
def test_amounts_as_strings_or_numbers(api, member, amount):
    response = api.post("/api/v1/purchases", purchase(amount=amount))
    assert response.status_code == 202, response.json()


def test_line_price_with_three_decimals_is_400(api, member):
    lines = [{"sku": "A", "quantity": 1, "unit_price": "10.001"}]
    body = assert_problem(
        api.post("/api/v1/purchases", purchase(lines=lines)), 400, "validation_error"
    )
    assert body["errors"][0]["field"] == "lines.0.unit_price"


def test_currency_without_decimals(partner):
    from tests.api.conftest import client_for

    yen = ProgramFactory(slug="yen", currency="JPY")
    partner.programs.add(yen)
    api = client_for(partner)
    enroll(api, "j-1", programs=["yen"])
    body = assert_problem(
        api.post("/api/v1/purchases", purchase(member="j-1", amount="100.50")),
        400,
        "validation_error",
    )
    assert "no more than 0 decimal places for JPY" in body["errors"][0]["detail"]
    assert api.post("/api/v1/purchases", purchase(member="j-1", amount="100")).status_code == 202


def test_currency_mismatch_is_422(api, member):
    body = assert_problem(
        api.post("/api/v1/purchases", purchase(currency="USD")), 422, "currency_mismatch"
    )
    assert body["errors"][0]["field"] == "currency"


@pytest.mark.parametrize(
    "body", ["{", "[1,", '{"amount": NaN}', "\x00", '"just a string"', "[]", "null", "42"]
)
def test_malformed_or_wrong_json_is_400(api, member, body):
    response = api.post("/api/v1/purchases", body, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] in {"parse_error", "validation_error"}


def test_form_encoded_body_is_415(api, member):
    response = api.post(
        "/api/v1/purchases", "member=c-1", content_type="application/x-www-form-urlencoded"
    )
    assert_problem(response, 415, "unsupported_media_type")


def test_method_not_allowed_is_405(api):
    assert_problem(api.delete("/api/v1/members/c-1"), 405, "method_not_allowed")
    assert_problem(api.get("/api/v1/purchases"), 405, "method_not_allowed")
    response = api.options("/api/v1/purchases")
    assert_problem(response, 405, "method_not_allowed")
    assert "OPTIONS" not in response["Allow"]


def test_unknown_endpoint_is_404_problem(api):
    assert_problem(api.get("/api/v1/nothing/here"), 404, "endpoint_not_found")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
def test_body_too_large_is_413(api, member):
    lines = [{"sku": f"S{i}", "unit_price": "1.00"} for i in range(100)]
    body = assert_problem(
        api.post("/api/v1/purchases", purchase(amount="100.00", lines=lines)),
        413,
        "payload_too_large",
    )
    assert "limit is 2048" in body["detail"]


def test_messages_are_english_unless_asked_otherwise(api, member):
    english = api.post("/api/v1/purchases", purchase(order_id=None)).json()
    assert english["errors"][0]["detail"] == "This field may not be null."
    german = api.post(
        "/api/v1/purchases", purchase(order_id=None), HTTP_ACCEPT_LANGUAGE="de"
    ).json()
    assert german["errors"][0]["detail"] != english["errors"][0]["detail"]
    assert german["errors"][0]["code"] == "null"


def test_missing_fields_are_listed(api, member):
    body = assert_problem(api.post("/api/v1/purchases", {}), 400, "validation_error")
    assert {e["field"] for e in body["errors"]} == {"member", "order_id", "amount"}
    assert all(e["code"] == "required" for e in body["errors"])
    assert "(and 2 more errors)" in body["detail"]


def test_page_size_is_capped_at_200(api, partner, program):
    customers = Customer.objects.bulk_create(
        Customer(email=f"bulk{i}@example.com") for i in range(205)
    )
    PartnerCustomer.objects.bulk_create(
        PartnerCustomer(partner=partner, customer=c, external_id=f"b-{i}")
        for i, c in enumerate(customers)
    )
    response = api.get("/api/v1/members?page_size=1000")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 200
    rest = api.get(response.json()["next"]).json()
    assert len(rest["results"]) == 5
    assert rest["next"] is None
    seen = {m["external_id"] for m in response.json()["results"] + rest["results"]}
    assert len(seen) == 205


@pytest.mark.parametrize("cursor", ["garbage", "cD1hYmM=", "cD0xMjM0NTY3ODkwMTIzNDU2Nzg5MA=="])
def test_invalid_cursor_is_400(api, cursor):
    body = assert_problem(api.get(f"/api/v1/members?cursor={cursor}"), 400, "validation_error")
    assert body["errors"][0]["field"] == "cursor"


@pytest.mark.parametrize(
    "query",
    ["updated_since=yesterday", "program=unknown", "tier=" + "x" * 100],
)
def test_bad_list_filters_are_400(api, query):
    assert_problem(api.get(f"/api/v1/members?{query}"), 400, "validation_error")


def test_problem_body_is_valid_json_with_instance(api):
    response = api.get("/api/v1/members/nobody")
    body = json.loads(response.content)
    assert body["instance"] == "/api/v1/members/nobody"
    assert body["code"] == "member_not_found"


def test_not_enrolled_and_ambiguous_program(partner):
    from tests.api.conftest import client_for

    other = ProgramFactory(slug="kaffee")
    partner.programs.add(other)
    api = client_for(partner)
    enroll(api, "c-2", programs=["treue", "kaffee"])
    enroll(api, "c-3", programs=[])
    body = assert_problem(
        api.post("/api/v1/purchases", purchase(member="c-2")), 400, "validation_error"
    )
    assert "several of your programs (kaffee, treue)" in body["errors"][0]["detail"]
    assert_problem(api.post("/api/v1/purchases", purchase(member="c-3")), 422, "not_enrolled")
    membership_enroll(customer=Customer.objects.get(email="c-3@example.com"), program=other)
    assert (
        api.post("/api/v1/purchases", purchase(member="c-3", program="kaffee")).status_code == 202
    )
    foreign = ProgramFactory(slug="fremd")
    PartnerFactory(programs=[foreign])
    body = assert_problem(
        api.post("/api/v1/purchases", purchase(member="c-2", program="fremd")),
        400,
        "validation_error",
    )
    assert body["errors"][0]["code"] == "unknown_program"


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/members/a%00b",
        "/api/v1/members?tier=%00",
        "/api/v1/members?%00=1",
        "/api/v1/members/c-1/history?program=x%00",
    ],
)
def test_null_characters_in_the_url_are_400(api, member, url):
    body = assert_problem(api.get(url), 400, "validation_error")
    assert body["errors"][0]["code"] == "null_characters"


def test_null_characters_in_body_fields_are_400(api, member):
    body = assert_problem(
        api.post("/api/v1/purchases", purchase(order_id="a\x00b")), 400, "validation_error"
    )
    assert body["errors"][0]["field"] == "order_id"


# --- found by schemathesis --------------------------------------------------------------


def test_text_fields_take_strings_only(api, member):
    body = {"member": "c-1", "order_id": 42, "amount": "1.00"}
    problem = assert_problem(
        api.post("/api/v1/purchases", body, format="json"), 400, "validation_error"
    )
    assert [(e["field"], e["code"]) for e in problem["errors"]] == [("order_id", "invalid")]


@pytest.mark.parametrize(
    "query", ["page_size=null", "page_size=0", "page_size=-3", "updated_since="]
)
def test_malformed_list_parameters_are_400(api, member, query):
    assert_problem(api.get(f"/api/v1/members?{query}"), 400, "validation_error")


def test_a_large_page_size_is_cut_to_200(api, member):
    assert api.get("/api/v1/members?page_size=5000").status_code == 200
