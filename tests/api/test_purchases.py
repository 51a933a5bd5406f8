"""Purchases: record (single and batch), read, refund."""

from datetime import timedelta

import pytest
from django.utils import timezone

from programs.models import Purchase, PurchaseStatus
from programs.services.purchases import purchases_award
from tests.api.conftest import assert_problem, enroll

LINES = [
    {"sku": "TEA-1", "category": "tea", "quantity": 2, "unit_price": "19.90"},
    {"sku": "CUP-7", "category": "tableware", "quantity": 1, "unit_price": "20.00"},
]


@pytest.fixture
def shopper(api):
    enroll(api, "c-1")
    return "c-1"


def post(api, **fields):
    body = {"member": "c-1", "order_id": "A-1", "amount": "59.80", "lines": LINES, **fields}
    return api.post("/api/v1/purchases", body)


def test_record_answers_202_with_expected_points(api, shopper):
    response = post(api, occurred_at="2025-01-05T10:00:00+01:00")
    assert response.status_code == 202
    body = response.json()
    assert response["Location"] == f"/api/v1/purchases/{body['id']}"
    assert body["status"] == "received"
    assert body["points_expected"] == 59
    assert body["points_awarded"] is None
    assert body["member"] == "c-1"
    assert body["program"] == "treue"
    assert body["amount"] == "59.80"
    assert body["currency"] == "EUR"
    assert [line["line_no"] for line in body["lines"]] == [1, 2]
    assert body["lines"][0]["amount"] == "39.80"


def test_the_worker_awards_after_commit(api, shopper, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        purchase_id = post(api).json()["id"]
    body = api.get(f"/api/v1/purchases/{purchase_id}").json()
    assert body["status"] == "awarded"
    assert body["points_awarded"] == 59
    assert api.get("/api/v1/members/c-1/balance").json()["programs"][0]["available"] == 59


def test_same_order_again_is_200_and_not_counted_twice(api, shopper):
    first = post(api)
    again = post(api)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert Purchase.objects.count() == 1


def test_same_order_id_with_other_data_is_409(api, shopper):
    post(api)
    body = assert_problem(post(api, amount="10.00", lines=[]), 409, "idempotency_conflict")
    assert body["errors"][0]["field"] == "order_id"


def test_lines_must_add_up(api, shopper):
    body = assert_problem(post(api, amount="60.00"), 422, "invalid_amount")
    assert body["errors"][0]["field"] == "lines"
    assert "add up to 59.80" in body["detail"]


def test_future_purchase_is_400(api, shopper):
    future = (timezone.now() + timedelta(hours=2)).isoformat()
    body = assert_problem(post(api, occurred_at=future), 400, "validation_error")
    assert body["errors"][0]["field"] == "occurred_at"


def test_unknown_member_is_400(api, shopper):
    body = assert_problem(post(api, member="nobody"), 400, "validation_error")
    assert body["errors"][0] == {
        "field": "member",
        "pointer": "#/member",
        "code": "member_not_found",
        "detail": "You have no member with this external id; enroll them first.",
    }


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({"quantity": 0, "unit_price": "1.00"}, "lines.0.quantity"),
        ({"quantity": 1.5, "unit_price": "1.00"}, "lines.0.quantity"),
        ({"quantity": 1, "unit_price": "-1.00"}, "lines.0.unit_price"),
        ({"quantity": 1}, "lines.0.unit_price"),
        ({"sku": "x" * 65, "unit_price": "1.00"}, "lines.0.sku"),
    ],
)
def test_bad_lines_are_400(api, shopper, line, field):
    body = assert_problem(post(api, amount="1.00", lines=[line]), 400, "validation_error")
    assert body["errors"][0]["field"] == field


def test_signals_are_stored(api, shopper):
    signals = {"payment_fingerprint": "fp-1", "device_id": "d-1", "ip_address": "203.0.113.5"}
    purchase_id = post(api, signals=signals).json()["id"]
    purchase = Purchase.objects.get(pk=purchase_id)
    assert (purchase.payment_fingerprint, purchase.device_id, purchase.ip_address) == (
        "fp-1",
        "d-1",
        "203.0.113.5",
    )


def test_get_purchase(api, shopper):
    purchase_id = post(api).json()["id"]
    body = api.get(f"/api/v1/purchases/{purchase_id}").json()
    assert body["order_id"] == "A-1"
    assert_problem(api.get("/api/v1/purchases/999999"), 404, "purchase_not_found")


# --- batch ---------------------------------------------------------------------------------


def test_batch_answers_per_item(api, shopper):
    post(api, order_id="DUP")
    items = [
        {"member": "c-1", "order_id": "B-1", "amount": "10.00"},
        {"member": "c-1", "order_id": "DUP", "amount": "59.80", "lines": LINES},
        {"member": "c-1", "order_id": "B-3", "amount": "10.001"},
        {"member": "ghost", "order_id": "B-4", "amount": "10.00"},
        {"member": "c-1", "order_id": "B-5", "amount": "10.00", "extra": 1},
        "not an object",
        {"member": "c-1", "order_id": "DUP", "amount": "1.00"},
        {"member": "c-1", "order_id": "B-8", "amount": "8.00"},
    ]
    response = api.post("/api/v1/purchases/batch", {"purchases": items})
    assert response.status_code == 200
    body = response.json()
    results = body["results"]
    assert [r["index"] for r in results] == list(range(8))
    assert [r["result"] for r in results] == [
        "created",
        "duplicate",
        "error",
        "error",
        "error",
        "error",
        "error",
        "created",
    ]
    assert body["summary"] == {"created": 2, "duplicate": 1, "error": 5}
    assert results[0]["purchase"]["status"] == "received"
    assert results[0]["purchase"]["points_expected"] == 10
    assert results[2]["problem"]["errors"][0]["field"] == "amount"
    assert results[2]["problem"]["instance"].endswith("#/purchases/2")
    assert results[3]["problem"]["errors"][0]["code"] == "member_not_found"
    assert results[4]["problem"]["errors"][0]["code"] == "unknown_field"
    assert results[5]["problem"]["status"] == 400
    assert results[6]["problem"]["code"] == "idempotency_conflict"
    assert set(Purchase.objects.values_list("order_id", flat=True)) == {"DUP", "B-1", "B-8"}


def test_batch_of_1000_is_accepted_and_1001_refused(api, shopper):
    items = [{"member": "c-1", "order_id": f"N-{i}", "amount": "1.00"} for i in range(1001)]
    body = assert_problem(
        api.post("/api/v1/purchases/batch", {"purchases": items}), 400, "validation_error"
    )
    assert body["errors"][0]["field"] == "purchases"
    assert "no more than 1000" in body["errors"][0]["detail"]
    assert not Purchase.objects.exists()
    response = api.post("/api/v1/purchases/batch", {"purchases": items[:1000]})
    assert response.status_code == 200
    assert response.json()["summary"]["created"] == 1000


@pytest.mark.parametrize("body", [{}, {"purchases": []}, {"purchases": {}}, [], {"items": []}])
def test_batch_envelope_errors(api, body):
    assert_problem(api.post("/api/v1/purchases/batch", body), 400, "validation_error")


# --- refunds -------------------------------------------------------------------------------


@pytest.fixture
def awarded(api, shopper):
    purchase_id = post(api).json()["id"]
    purchases_award([purchase_id])
    return purchase_id


def test_refund_by_line(api, awarded):
    response = api.post(
        f"/api/v1/purchases/{awarded}/refunds",
        {"refund_id": "R-1", "lines": [{"line_no": 1, "quantity": 1}]},
    )
    assert response.status_code == 201
    body = response.json()
    assert body["amount"] == "19.90"
    assert body["points_reversed"] == 19
    assert body["purchase"]["refunded_amount"] == "19.90"
    assert body["purchase"]["lines"][0]["refunded_quantity"] == 1
    assert api.get("/api/v1/members/c-1/balance").json()["programs"][0]["available"] == 40


def test_refund_by_amount_and_again(api, awarded):
    first = api.post(f"/api/v1/purchases/{awarded}/refunds", {"refund_id": "R-2", "amount": 29.9})
    assert first.status_code == 201
    again = api.post(f"/api/v1/purchases/{awarded}/refunds", {"refund_id": "R-2", "amount": 29.9})
    assert again.status_code == 200
    assert again.json()["points_reversed"] == first.json()["points_reversed"]
    assert Purchase.objects.get(pk=awarded).refunds.count() == 1


def test_refund_of_a_received_purchase_awards_it_first(api, shopper):
    purchase_id = post(api).json()["id"]
    response = api.post(
        f"/api/v1/purchases/{purchase_id}/refunds", {"refund_id": "R", "amount": "59.80"}
    )
    assert response.status_code == 201
    assert response.json()["purchase"]["status"] == PurchaseStatus.AWARDED
    assert response.json()["points_reversed"] == 59


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"refund_id": "R"}, 400, "validation_error"),
        ({"refund_id": "R", "amount": "1.001"}, 400, "validation_error"),
        ({"refund_id": "R", "amount": "0"}, 400, "validation_error"),
        ({"refund_id": "R", "lines": []}, 400, "validation_error"),
        ({"refund_id": "R", "amount": "100.00"}, 409, "refund_exceeds_purchase"),
        ({"refund_id": "R", "lines": [{"line_no": 9, "quantity": 1}]}, 422, "invalid_amount"),
        (
            {"refund_id": "R", "lines": [{"line_no": 1, "quantity": 3}]},
            409,
            "refund_exceeds_purchase",
        ),
        (
            {"refund_id": "R", "amount": "5.00", "lines": [{"line_no": 1, "quantity": 1}]},
            422,
            "invalid_amount",
        ),
        ({"refund_id": "R", "amount": "5.00", "reason": "x"}, 400, "validation_error"),
    ],
)
def test_refund_errors(api, awarded, body, status, code):
    assert_problem(api.post(f"/api/v1/purchases/{awarded}/refunds", body), status, code)
    assert Purchase.objects.get(pk=awarded).refunded_amount == 0


def test_refund_of_unknown_purchase_is_404(api, shopper):
    assert_problem(
        api.post("/api/v1/purchases/424242/refunds", {"refund_id": "R", "amount": "1.00"}),
        404,
        "purchase_not_found",
    )
