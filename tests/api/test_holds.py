"""Paying with points through the API: quote, hold, capture, void, read; scoping to the
partner that placed a hold, idempotent replays, and the refusals a till must handle.

The member c-1 of partner A (the web shop) has 300 points; a point is worth 0.01 EUR. The
customer has set the PIN 4826, which every hold below sends as their proof (the proofs
themselves: test_holds_proof.py)."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from programs.models import PointsHold, WebhookEvent, WebhookEventType
from programs.services.card_proofs import pin_set
from programs.services.webhooks import webhook_subscription_create
from tests.api.conftest import assert_problem, buy, client_for, enroll_confirmed

pytestmark = pytest.mark.django_db

PIN = "4826"


@pytest.fixture(autouse=True)
def _member_pin(member):
    pin_set(member, PIN)


def hold(api, amount="2.50", *, key="till-1-0001", member="c-1", proof=None, **fields):
    return api.post(
        f"/api/v1/members/{member}/holds",
        {"amount": amount, "proof": proof or {"pin": PIN}, **fields},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def balance(api, member="c-1") -> dict:
    (program,) = api.get(f"/api/v1/members/{member}/balance").json()["programs"]
    return {name: program[name] for name in ("available", "held", "debt")}


def test_quote_says_how_many_points_pay_an_amount(api, member):
    response = api.post("/api/v1/members/c-1/quotes", {"amount": "2.50"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "program": "treue",
        "amount": "2.50",
        "currency": "EUR",
        "point_value": "0.0100",
        "points_needed": 250,  # 2.50 / 0.01
        "available": 300,
        "points_payable": 250,
        "amount_payable": "2.50",
        "covers": True,
    }
    more = api.post("/api/v1/members/c-1/quotes", {"amount": "4.00"}, format="json").json()
    # 400 points needed, 300 there: they pay 3.00, the rest is paid otherwise
    assert (more["points_payable"], more["amount_payable"], more["covers"]) == (300, "3.00", False)


def test_a_read_key_may_quote_but_not_hold(member, partner):
    reader = client_for(partner, scopes=("read",))
    assert reader.post("/api/v1/members/c-1/quotes", {"amount": "1.00"}).status_code == 200
    assert_problem(hold(reader), 403, "insufficient_scope")


def test_a_hold_takes_the_points_out_of_the_available_balance(api, member):
    response = hold(api, order_reference="T-4711")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert {k: body[k] for k in ("member", "program", "status", "points", "amount")} == {
        "member": "c-1",
        "program": "treue",
        "status": "held",
        "points": 250,
        "amount": "2.50",
    }
    assert body["order_reference"] == "T-4711"
    assert balance(api) == {"available": 50, "held": 250, "debt": 0}  # 300 - 250
    assert api.get(f"/api/v1/holds/{body['id']}").json() == body


def test_a_hold_needs_an_idempotency_key(api, member):
    response = api.post("/api/v1/members/c-1/holds", {"amount": "1.00"}, format="json")
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"][0]["field"] == "Idempotency-Key"
    assert not PointsHold.objects.exists()


def test_a_retried_hold_is_answered_again_and_another_body_is_refused(api, member):
    first = hold(api, key="till-1-0002")
    again = hold(api, key="till-1-0002")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert PointsHold.objects.count() == 1
    assert_problem(hold(api, "1.00", key="till-1-0002"), 422, "idempotency_key_reused")
    assert balance(api)["held"] == 250


def test_never_more_held_than_available(api, member):
    hold(api, "2.00", key="a")  # 200 held, 100 left
    body = assert_problem(hold(api, "1.01", key="b"), 409, "insufficient_points")
    assert (body["needed"], body["available"]) == (101, 100)
    assert balance(api) == {"available": 100, "held": 200, "debt": 0}


def test_capture_part_spends_it_and_gives_the_rest_back(api, member):
    placed = hold(api).json()
    response = api.post(f"/api/v1/holds/{placed['id']}/capture", {"amount": "1.00"}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["points_captured"], body["captured_amount"]) == (
        "captured",
        100,
        "1.00",
    )
    assert balance(api) == {"available": 200, "held": 0, "debt": 0}  # 300 - 100
    again = api.post(f"/api/v1/holds/{placed['id']}/capture", {"amount": "1.00"}, format="json")
    assert again.status_code == 200
    assert again.json()["points_captured"] == 100
    assert balance(api)["available"] == 200


def test_capture_more_than_held_is_refused(api, member):
    placed = hold(api).json()
    url = f"/api/v1/holds/{placed['id']}/capture"
    assert_problem(api.post(url, {"amount": "2.51"}, format="json"), 409, "capture_exceeds_hold")
    assert_problem(api.post(url, {"points": 251}, format="json"), 409, "capture_exceeds_hold")
    assert_problem(
        api.post(url, {"points": 10, "amount": "0.10"}, format="json"), 400, "validation_error"
    )
    assert balance(api) == {"available": 50, "held": 250, "debt": 0}


def test_capture_after_expiry_is_refused(api, member):
    placed = hold(api, expires_in_minutes=5).json()
    in_six_minutes = timezone.now() + timedelta(minutes=6)
    with mock.patch.object(timezone, "now", return_value=in_six_minutes):
        response = api.post(f"/api/v1/holds/{placed['id']}/capture")
    body = assert_problem(response, 409, "hold_expired")
    assert "place a new hold" in body["detail"]
    assert balance(api)["held"] == 250  # released by the expiry job, not by the refusal


def test_void_gives_the_points_back_and_a_captured_hold_cannot_be_voided(api, member):
    first = hold(api, "1.00", key="a").json()
    second = hold(api, "1.00", key="b").json()
    voided = api.post(f"/api/v1/holds/{first['id']}/void")
    assert voided.status_code == 200
    assert voided.json()["status"] == "voided"
    assert api.post(f"/api/v1/holds/{first['id']}/void").json()["status"] == "voided"
    api.post(f"/api/v1/holds/{second['id']}/capture")
    assert_problem(api.post(f"/api/v1/holds/{second['id']}/void"), 409, "hold_not_held")
    assert_problem(api.post(f"/api/v1/holds/{first['id']}/capture"), 409, "hold_not_held")
    assert balance(api) == {"available": 200, "held": 0, "debt": 0}  # 300 - 100 captured


def test_another_partner_sees_and_touches_no_hold_of_yours(api, api_b, member, member_b):
    placed = hold(api).json()
    for response in (
        api_b.get(f"/api/v1/holds/{placed['id']}"),
        api_b.post(f"/api/v1/holds/{placed['id']}/capture"),
        api_b.post(f"/api/v1/holds/{placed['id']}/void"),
    ):
        assert_problem(response, 404, "hold_not_found")
    assert_problem(hold(api_b, member="c-1", key="b-1"), 404, "member_not_found")
    assert balance(api)["held"] == 250


def test_the_history_shows_the_payment_to_its_partner_only(api, api_b, member):
    placed = hold(api, order_reference="T-1").json()
    api.post(f"/api/v1/holds/{placed['id']}/capture", {"points": 100}, format="json")
    history = api.get("/api/v1/members/c-1/history").json()["results"]
    moves = [(e["kind"], e["points"], e["held_points"], e["hold_id"]) for e in history[:3]]
    assert moves == [  # newest first
        ("hold_release", 150, -150, placed["id"]),
        ("capture", 0, -100, placed["id"]),
        ("hold", -250, 250, placed["id"]),
    ]
    enroll_confirmed(api_b, "same-person", email="c-1@example.com")  # B links the same customer
    seen_by_b = api_b.get("/api/v1/members/same-person/history").json()["results"]
    assert [(e["hold_id"], e["description"]) for e in seen_by_b[:3]] == [(None, "")] * 3


def test_a_refund_of_the_order_gives_the_points_back_pro_rata(api, member):
    placed = hold(api, "2.00", order_reference="T-9").json()  # 200 points
    api.post(f"/api/v1/holds/{placed['id']}/capture")
    order = buy(api, "c-1", "10.00", order_id="T-9")  # the cash part earns 10 points
    assert balance(api)["available"] == 110  # 300 - 200 + 10
    refund = api.post(
        f"/api/v1/purchases/{order['id']}/refunds",
        {"refund_id": "R-1", "amount": "5.00"},
        format="json",
    )
    assert refund.status_code == 201, refund.json()
    # half the order: 100 of the 200 points paid come back, 5 of the 10 earned go
    assert balance(api)["available"] == 110 + 100 - 5
    assert api.get(f"/api/v1/holds/{placed['id']}").json()["points_refunded"] == 100


def test_the_partner_that_placed_the_hold_alone_hears_of_its_capture_and_void(
    api, api_b, member, partner, partner_b
):
    events = [WebhookEventType.HOLD_CAPTURED, WebhookEventType.HOLD_VOIDED]
    for who in (partner, partner_b):
        webhook_subscription_create(partner=who, url="https://hooks.example.com/h", events=events)
    enroll_confirmed(api_b, "same-person", email="c-1@example.com")  # B knows the member too
    first = hold(api, "1.00", key="a", order_reference="T-5").json()
    second = hold(api, "1.00", key="b").json()
    api.post(f"/api/v1/holds/{first['id']}/capture", {"points": 40}, format="json")
    api.post(f"/api/v1/holds/{second['id']}/void")
    sent = list(WebhookEvent.objects.order_by("pk").values_list("partner", "type", "payload"))
    assert [(who, type) for who, type, _payload in sent] == [
        (partner.pk, "hold.captured"),
        (partner.pk, "hold.voided"),
    ]
    captured = sent[0][2]["data"]
    assert {k: captured[k] for k in ("member", "hold_id", "order_reference", "points")} == {
        "member": "c-1",
        "hold_id": first["id"],
        "order_reference": "T-5",
        "points": 100,
    }
    assert (captured["points_captured"], captured["captured_amount"]) == (40, "0.40")
    assert "partner_id" not in captured
