"""The batch endpoint records set-based (``purchases_record_many``) but answers exactly as
POST /purchases would, item by item: the same errors, the same duplicates and conflicts,
the same purchases and expected points, one award task for all after the commit."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError
from django.utils import timezone

from programs.models import EarnRule, Membership, MembershipStatus, Purchase, PurchaseStatus
from programs.services import purchases_batch
from programs.services.purchases import purchase_record
from tests.api.conftest import enroll

LINES = [
    {"sku": "TEA-1", "category": "tea", "quantity": 2, "unit_price": "19.90"},
    {"sku": "CUP-7", "category": "cups", "quantity": 1, "unit_price": "20.00"},
]


def batch(client, items):
    response = client.post("/api/v1/purchases/batch", {"purchases": items}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.fixture
def members(api, api_b, program):
    """The same member ids at A and at B (different customers), in the same state."""
    EarnRule.objects.create(program=program, category="tea", multiplier=Decimal(3))
    for client, prefix in ((api, "a"), (api_b, "b")):
        for external_id in ("m-1", "m-2", "m-off"):
            enroll(client, external_id, email=f"{prefix}-{external_id}@example.com")
    Membership.objects.filter(customer__partner_links__external_id="m-off").update(
        status=MembershipStatus.SUSPENDED
    )


def mixed_items():
    future = (timezone.now() + timedelta(days=1)).isoformat()
    return [
        {"member": "m-1", "order_id": "O-1", "amount": "59.80", "lines": LINES},
        {"member": "m-2", "order_id": "O-2", "amount": "10.00", "occurred_at": "2025-03-01T10:00Z"},
        {"member": "m-1", "order_id": "O-3", "amount": "10.001"},  # too many decimals
        {"member": "ghost", "order_id": "O-4", "amount": "10.00"},  # not a member of yours
        {"member": "m-1", "order_id": "O-5", "amount": "10.00", "currency": "USD"},
        {"member": "m-1", "order_id": "O-6", "amount": "50.00", "lines": LINES},  # lines != 50
        {"member": "m-1", "order_id": "O-7", "amount": "10.00", "occurred_at": future},
        {"member": "m-off", "order_id": "O-8", "amount": "10.00"},  # membership suspended
        {"member": "m-2", "order_id": "O-1", "amount": "59.80"},  # O-1 again, other member
        {"member": "m-1", "order_id": "O-1", "amount": "59.80", "lines": LINES},  # O-1 again
        {"member": "m-2", "order_id": "O-9", "amount": 12.5, "lines": []},
        "not an object",
        {"member": "m-1", "order_id": "O-10", "amount": "1.00", "bonus": 5},  # unknown field
    ]


def single_answers(client, items) -> list[dict]:
    """What POST /purchases answers for each item, posted one after another."""
    answers = []
    for item in items:
        response = client.post("/api/v1/purchases", item, format="json")
        body = response.json()
        if response.status_code in (200, 202):
            kind = "created" if response.status_code == 202 else "duplicate"
            answers.append({"result": kind, "purchase": body})
        else:
            answers.append({"result": "error", "problem": body})
    return answers


def comparable(result) -> tuple:
    if result["result"] == "error":
        problem = result["problem"]
        errors = [(e["field"], e["code"], e["detail"]) for e in problem.get("errors", [])]
        return ("error", problem["status"], problem["code"], problem["detail"], errors)
    purchase = result["purchase"]
    return (result["result"], purchase["order_id"], purchase["status"], purchase["points_expected"])


def test_a_batch_answers_each_item_as_single_requests_would(api, api_b, partner, members):
    items = mixed_items()
    body = batch(api, items)
    singles = single_answers(api_b, items)  # B: the same members and data, one by one
    assert [comparable(r) for r in body["results"]] == [comparable(s) for s in singles]
    assert [r["result"] for r in body["results"]] == (
        ["created", "created"] + ["error"] * 7 + ["duplicate", "created", "error", "error"]
    )
    assert body["summary"] == {"created": 3, "duplicate": 1, "error": 9}
    codes = [r["problem"]["code"] for r in body["results"] if r["result"] == "error"]
    assert codes == [
        "validation_error",  # max_decimal_places
        "validation_error",  # member_not_found
        "currency_mismatch",
        "invalid_amount",
        "validation_error",  # future
        "membership_inactive",
        "idempotency_conflict",
        "validation_error",  # not an object
        "validation_error",  # unknown field
    ]
    # The stored purchases are the same as those stored one by one, lines included.
    for order_id in ("O-1", "O-2", "O-9"):
        mine = Purchase.objects.get(partner=partner, order_id=order_id)
        theirs = Purchase.objects.exclude(partner=partner).get(order_id=order_id)
        fields = ("amount", "currency", "points_expected", "status", "membership__customer__email")
        assert (
            Purchase.objects.filter(pk=mine.pk).values_list(*fields).get()[:-1]
            == (Purchase.objects.filter(pk=theirs.pk).values_list(*fields).get()[:-1])
        )
        line_fields = ("line_no", "sku", "category", "quantity", "unit_price", "amount")
        assert list(mine.lines.values_list(*line_fields)) == list(
            theirs.lines.values_list(*line_fields)
        )
    first = body["results"][0]["purchase"]
    assert body["results"][9]["purchase"]["id"] == first["id"]  # the duplicate points at O-1
    o2 = Purchase.objects.filter(order_id="O-2").values_list("occurred_at", flat=True)
    assert len(set(o2)) == 1  # as sent, in both
    assert first["points_expected"] == 139  # 39.80 of tea x 3 + 20.00 of cups, rounded down
    assert Purchase.objects.filter(partner=partner).count() == 3


def test_duplicates_of_earlier_purchases(api, partner, members):
    earlier = api.post(
        "/api/v1/purchases", {"member": "m-1", "order_id": "E-1", "amount": "10.00"}
    ).json()
    body = batch(
        api,
        [
            {"member": "m-1", "order_id": "E-1", "amount": "10.00"},
            {"member": "m-1", "order_id": "E-1", "amount": "11.00"},
            {"member": "m-1", "order_id": "E-2", "amount": "5.00"},
        ],
    )
    kinds = [r["result"] for r in body["results"]]
    assert kinds == ["duplicate", "error", "created"]
    assert body["results"][0]["purchase"]["id"] == earlier["id"]
    assert body["results"][1]["problem"]["code"] == "idempotency_conflict"
    again = batch(api, [{"member": "m-1", "order_id": "E-2", "amount": "5.00"}])
    assert again["results"][0]["result"] == "duplicate"
    assert Purchase.objects.filter(partner=partner).count() == 2


def test_one_award_task_for_the_whole_batch(
    api, partner, members, django_capture_on_commit_callbacks
):
    items = [{"member": "m-1", "order_id": f"T-{n}", "amount": "2.00"} for n in range(5)]
    items.append({"member": "ghost", "order_id": "T-x", "amount": "2.00"})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        batch(api, items)
    assert len(callbacks) == 1
    assert set(Purchase.objects.values_list("status", flat=True)) == {PurchaseStatus.RECEIVED}
    callbacks[0]()  # the worker (eager in tests) awards them all
    assert set(Purchase.objects.values_list("status", flat=True)) == {PurchaseStatus.AWARDED}
    assert Membership.objects.get(customer__email="a-m-1@example.com").balance == 10


def test_the_number_of_queries_does_not_grow_with_the_batch(
    api, members, django_assert_max_num_queries
):
    items = [
        {"member": f"m-{1 + n % 2}", "order_id": f"Q-{n}", "amount": "59.80", "lines": LINES}
        for n in range(300)
    ]
    with django_assert_max_num_queries(25):
        body = batch(api, items)
    assert body["summary"]["created"] == 300


def test_an_order_id_stored_meanwhile_by_another_request_is_settled_per_item(
    api, partner, members, monkeypatch
):
    points = purchases_batch.purchase_expected_points
    membership = Membership.objects.get(customer__email="a-m-2@example.com")
    raced = []

    def another_request_meanwhile(**kwargs):
        if not raced:  # R-2 arrives through another request after our lookup
            raced.append(
                purchase_record(
                    partner=partner,
                    membership=membership,
                    order_id="R-2",
                    amount=Decimal("3.00"),
                    currency="EUR",
                    occurred_at=timezone.now(),
                )
            )
        return points(**kwargs)

    monkeypatch.setattr(purchases_batch, "purchase_expected_points", another_request_meanwhile)
    body = batch(
        api,
        [
            {"member": "m-1", "order_id": "R-1", "amount": "1.00"},
            {"member": "m-2", "order_id": "R-2", "amount": "3.00"},
            {"member": "m-1", "order_id": "R-3", "amount": "2.00"},
        ],
    )
    assert [r["result"] for r in body["results"]] == ["created", "duplicate", "created"]
    assert body["results"][1]["purchase"]["id"] == raced[0][0].pk
    assert sorted(Purchase.objects.values_list("order_id", flat=True)) == ["R-1", "R-2", "R-3"]


def test_a_failed_insert_of_the_lines_leaves_no_purchase_behind(api, partner, members, monkeypatch):
    def lines_fail(rows):
        raise IntegrityError("lines refused")

    monkeypatch.setattr(purchases_batch, "_insert_lines", lines_fail)
    with pytest.raises(IntegrityError):
        batch(api, [{"member": "m-1", "order_id": "H-1", "amount": "59.80", "lines": LINES}])
    assert not Purchase.objects.exists()  # the purchases' insert was rolled back with it
    monkeypatch.undo()
    body = batch(api, [{"member": "m-1", "order_id": "H-1", "amount": "59.80", "lines": LINES}])
    assert body["results"][0]["result"] == "created"
    assert Purchase.objects.get().lines.count() == 2


def test_a_null_character_in_one_member_id_fails_only_that_item(api, members):
    body = batch(
        api,
        [
            {"member": "m-1\x00", "order_id": "N-1", "amount": "1.00"},
            {"member": "m-1", "order_id": "N-2", "amount": "1.00"},
        ],
    )
    assert [r["result"] for r in body["results"]] == ["error", "created"]
    assert body["results"][0]["problem"]["errors"][0]["field"] == "member"


def test_a_batch_stores_the_same_rows_as_single_requests(api, members):
    """The batch writes its rows with its own insert: every column as POST /purchases."""
    item = {"member": "m-1", "order_id": "S-1", "amount": "59.80", "lines": LINES}
    item["occurred_at"] = "2025-03-01T10:00:00Z"
    item["signals"] = {"payment_fingerprint": "fp-1", "device_id": "d-1"}
    assert api.post("/api/v1/purchases", item, format="json").status_code == 202
    batch(api, [{**item, "order_id": "S-2"}])
    single, batched = (Purchase.objects.filter(order_id=o).values().get() for o in ("S-1", "S-2"))
    for row in (single, batched):
        for name in ("id", "order_id", "received_at"):
            row.pop(name)
    assert batched == single
    lines = [
        list(Purchase.objects.get(order_id=o).lines.values(
            "line_no", "sku", "category", "quantity", "unit_price", "amount",
            "refunded_quantity", "points",
        ))
        for o in ("S-1", "S-2")
    ]  # fmt: skip
    assert lines[0] == lines[1]
    assert len(lines[0]) == 2


def test_a_batch_costs_the_same_queries_for_one_or_many_items(
    api, members, django_assert_max_num_queries
):
    batch(api, [{"member": "m-1", "order_id": "W-0", "amount": "1.00"}])  # the key is cached
    items = [
        {"member": f"m-{1 + n % 2}", "order_id": f"W-{n}", "amount": "59.80", "lines": LINES}
        for n in range(1, 51)
    ]
    # links, memberships, programs, tiers, the partner's programs, purchases, lines,
    # earn rules and campaigns (then cached), and the transaction
    with django_assert_max_num_queries(12):
        body = batch(api, items)
    assert body["summary"] == {"created": 50, "duplicate": 0, "error": 0}
