"""Bounds at the door: amounts, points and dates the ledger can hold and that make sense,
ids without hidden characters, and no member created from an empty body."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
import yaml
from django.utils import timezone

from programs.limits import MAX_AMOUNT, MAX_POINTS
from programs.models import Membership, PartnerCustomer, Purchase
from tests.api.conftest import assert_problem, buy, enroll
from tests.factories import StaffFactory


def purchase(**fields):
    return {"member": "c-1", "order_id": "o-1", "amount": "10.00", **fields}


def error_of(body: dict) -> tuple[str, str]:
    first = body["errors"][0]
    return first["field"], first["code"]


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("2147483648", "max_value"),
        (2147483648, "max_value"),
        ("100000000.00", "max_value"),
        (1e12, "max_whole_digits"),
    ],
)
def test_an_amount_above_the_maximum_is_400(api, member, amount, code):
    body = assert_problem(
        api.post("/api/v1/purchases", purchase(amount=amount)), 400, "validation_error"
    )
    assert error_of(body) == ("amount", code)
    if code == "max_value":
        assert str(MAX_AMOUNT) in body["detail"]
    assert not Purchase.objects.filter(order_id="o-1").exists()


def test_the_maximum_amount_is_accepted_and_awarded(api, member):
    created = buy(api, "c-1", str(MAX_AMOUNT), order_id="big")
    assert Purchase.objects.get(pk=created["id"]).points_awarded == int(MAX_AMOUNT)


def test_a_batch_item_above_the_maximum_fails_alone(api, member):
    items = [purchase(order_id="b-1", amount="2147483648"), purchase(order_id="b-2")]
    response = api.post("/api/v1/purchases/batch", {"purchases": items}, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["result"] for r in results] == ["error", "created"]
    assert results[0]["problem"]["status"] == 400


def test_a_line_above_the_maximum_is_400(api, member):
    too_dear = [{"sku": "X", "unit_price": "2147483648.00"}]
    body = assert_problem(
        api.post("/api/v1/purchases", purchase(amount="10.00", lines=too_dear)),
        400,
        "validation_error",
    )
    assert error_of(body) == ("lines.0.unit_price", "max_value")
    many = [{"sku": "X", "unit_price": "99999999.99", "quantity": 2}]
    body = assert_problem(
        api.post("/api/v1/purchases", purchase(amount="99999999.99", lines=many)),
        400,
        "amount_out_of_range",
    )
    assert "at most 99999999.99" in body["detail"]


def test_a_purchase_that_would_earn_too_many_points_is_refused(api, member, program):
    program.points_per_unit = Decimal(100)
    program.save()
    body = assert_problem(
        api.post("/api/v1/purchases", purchase(amount=str(MAX_AMOUNT))), 422, "points_out_of_range"
    )
    assert str(MAX_POINTS) in body["detail"]


def test_point_totals_beyond_32_bits_are_kept(api, program):
    """Three purchases of the largest amount at five points per euro (ten once the member is
    Platin) earn about 2.5 billion points: more than a 32-bit column holds."""
    program.points_per_unit = Decimal(5)
    program.save()
    enroll(api, "c-rich")
    for number in range(3):
        buy(api, "c-rich", str(MAX_AMOUNT), order_id=f"rich-{number}")
    earned = sum(Purchase.objects.values_list("points_awarded", flat=True))
    assert earned == 499_999_999 + 2 * 999_999_999 > 2**31
    membership = Membership.objects.get(customer__partner_links__external_id="c-rich")
    assert membership.lifetime_earned == earned
    assert membership.balance == earned
    balance = api.get("/api/v1/members/c-rich/balance").json()["programs"][0]
    assert balance["available"] == earned
    history = api.get("/api/v1/members/c-rich/history").json()["results"]
    assert history[0]["available_after"] == earned


@pytest.mark.parametrize(
    "occurred_at", ["0001-01-01T00:00:00Z", "1900-01-01T00:00:00Z", "1999-12-31T12:00:00Z"]
)
def test_dates_before_the_programs_history_are_400(api, member, occurred_at):
    body = assert_problem(
        api.post("/api/v1/purchases", purchase(occurred_at=occurred_at)),
        400,
        "before_history_start",
    )
    assert body["errors"][0]["field"] == "occurred_at"
    assert "2000-01-01" in body["detail"]
    assert not Purchase.objects.filter(order_id="o-1").exists()


def test_history_starts_with_the_program_unless_staff_move_it(api, member, program, client):
    program.history_starts_on = timezone.localdate()
    program.save()
    last_week = (timezone.now() - timedelta(days=7)).isoformat()
    assert_problem(
        api.post("/api/v1/purchases", purchase(occurred_at=last_week)),
        400,
        "before_history_start",
    )
    client.force_login(StaffFactory())
    page = client.get(f"/admin/programs/program/{program.pk}/change/")
    assert 'name="history_starts_on"' in page.content.decode()
    program.history_starts_on = date(2020, 1, 1)  # as the admin form saves it
    program.save()
    assert api.post("/api/v1/purchases", purchase(occurred_at=last_week)).status_code == 202


def test_a_new_program_starts_its_history_on_the_day_it_is_created(db):
    from programs.models import Program

    program = Program.objects.create(name="Neu", slug="neu")
    assert program.history_starts_on == timezone.localdate()


def test_dates_in_the_future_are_400(api, member):
    soon = (timezone.now() + timedelta(minutes=30)).isoformat()
    body = assert_problem(
        api.post("/api/v1/purchases", purchase(occurred_at=soon)), 400, "validation_error"
    )
    assert error_of(body) == ("occurred_at", "future")


@pytest.mark.parametrize("body", [{}, {"email": ""}, {"email": "", "programs": ["treue"]}])
def test_put_member_with_an_empty_body_or_blank_email_is_400(api, body):
    response = api.put("/api/v1/members/c-new", body, format="json")
    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"][0]["code"] in {"empty_body", "blank"}
    assert not PartnerCustomer.objects.filter(external_id="c-new").exists()


def test_put_member_without_any_body_is_400(api):
    response = api.generic("PUT", "/api/v1/members/c-new", "", content_type="application/json")
    assert_problem(response, 400, "validation_error")
    assert not PartnerCustomer.objects.exists()


def test_put_member_without_e_mail_still_works(api):
    response = api.put("/api/v1/members/c-card", {"programs": ["treue"]}, format="json")
    assert response.status_code == 201
    assert response.json()["email"] == ""


HIDDEN = ["A-1\r\nX-Injected: 1", "A-1\n", "A-\u202e1", "A-\u20661", "A\u200b-1", "A\x00-1"]


@pytest.mark.parametrize("order_id", HIDDEN)
def test_order_ids_with_control_or_bidi_characters_are_400(api, member, order_id):
    body = assert_problem(
        api.post("/api/v1/purchases", purchase(order_id=order_id)), 400, "validation_error"
    )
    assert body["errors"][0]["field"] == "order_id"
    assert body["errors"][0]["code"] in {"invalid_characters", "null_characters_not_allowed"}
    assert not Purchase.objects.filter(order_id__startswith="A").exists()


@pytest.mark.parametrize("value", HIDDEN[:3])
def test_other_ids_with_hidden_characters_are_400(api, member, value):
    line = [{"sku": value, "unit_price": "10.00"}]
    checks = [
        (api.post("/api/v1/purchases", purchase(member=value)), "member"),
        (api.post("/api/v1/purchases", purchase(lines=line)), "lines.0.sku"),
    ]
    stored = buy(api, "c-1", "20.00", order_id="r-1", award=False)
    refund = {"refund_id": value, "amount": "5.00"}
    checks.append((api.post(f"/api/v1/purchases/{stored['id']}/refunds", refund), "refund_id"))
    action = {"code": "review", "reference": value}
    checks.append((api.post("/api/v1/members/c-1/actions", action), "reference"))
    for response, field in checks:
        body = assert_problem(response, 400, "validation_error")
        assert (body["errors"][0]["field"], body["errors"][0]["code"]) == (
            field,
            "invalid_characters",
        )


@pytest.mark.parametrize("external_id", ["c-\u202e1", "c-%E2%80%AE1", "c%0A1", "c-\u2067x"])
def test_external_ids_with_hidden_characters_are_400(api, external_id):
    response = api.put(f"/api/v1/members/{external_id}", {"programs": ["treue"]}, format="json")
    assert_problem(response, 400, "validation_error")
    assert not PartnerCustomer.objects.exists()


def test_ids_with_ordinary_unicode_are_accepted(api, member):
    response = api.post("/api/v1/purchases", purchase(order_id="Bestellung Nr. 42 / Köln"))
    assert response.status_code == 202, response.content


def test_the_schema_states_the_bounds(api):
    schema = yaml.safe_load(api.get("/api/schema/").content)
    components = schema["components"]["schemas"]
    purchase_in = components["PurchaseInputRequest"]["properties"]
    number = next(o for o in purchase_in["amount"]["oneOf"] if o["type"] == "number")
    assert Decimal(str(number["maximum"])) == MAX_AMOUNT
    text = next(o for o in purchase_in["amount"]["oneOf"] if o["type"] == "string")
    assert "{0,7}" in text["pattern"]
    assert "\\u202e" in purchase_in["order_id"]["pattern"]
    assert purchase_in["order_id"]["maxLength"] == 100
    line = components["PurchaseLineInputRequest"]["properties"]
    assert "\\u202e" in str(line["sku"])
    member_in = components["MemberUpsertInputRequest"]
    assert member_in["minProperties"] == 1
    assert member_in["properties"]["email"]["minLength"] == 1
    refund_in = components["RefundInputRequest"]["properties"]
    assert "\\u202e" in refund_in["refund_id"]["pattern"]


def test_any_page_size_the_schema_allows_is_served(api, member):
    for size in ("7388738304", "9" * 40, "0001"):
        assert api.get(f"/api/v1/members?page_size={size}").status_code == 200, size
