"""The fast path of purchase validation gives the serializer's answer or steps aside."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from programs.api.serializers.purchases import PurchaseInput, PurchaseInputFast

LINE = {"sku": "TEA-1", "category": "tea", "quantity": 2, "unit_price": "19.90"}
BASE = {"member": "c-1", "order_id": "A-1", "amount": "39.80"}
SOON = (timezone.now() + timedelta(minutes=5)).isoformat()
LATER = (timezone.now() + timedelta(hours=1)).isoformat()

BODIES = [
    BASE,
    {**BASE, "amount": "12.5"},
    {**BASE, "amount": "007.50"},
    {**BASE, "amount": "1"},
    {**BASE, "program": "treue", "currency": "EUR", "occurred_at": "2025-03-01T14:03:00+01:00"},
    {**BASE, "occurred_at": "2025-03-01T14:03:00Z"},
    {**BASE, "occurred_at": "2025-03-01 14:03"},
    {**BASE, "occurred_at": SOON},
    {**BASE, "lines": [LINE, {"unit_price": "0"}]},
    {**BASE, "lines": []},
    {**BASE, "signals": {"payment_fingerprint": "fp_1", "device_id": "d-1"}},
    {**BASE, "signals": {"ip_address": None}},
    {**BASE, "signals": {}},
    # refused by the serializer, or left to it by the fast path
    {**BASE, "amount": "0.00"},
    {**BASE, "amount": "-1"},
    {**BASE, "amount": 39.8},
    {**BASE, "amount": "1.005"},
    {**BASE, "amount": "1234567890123.00"},
    {**BASE, "amount": "٣"},
    {**BASE, "member": " c-1 "},
    {**BASE, "member": ""},
    {**BASE, "member": "c-\x001"},
    {**BASE, "member": "x" * 101},
    {**BASE, "member": 12},
    {**BASE, "order_id": None},
    {**BASE, "program": "tr eue"},
    {**BASE, "program": None},
    {**BASE, "currency": "eur"},
    {**BASE, "occurred_at": LATER},
    {**BASE, "occurred_at": "yesterday"},
    {**BASE, "lines": [{**LINE, "quantity": 0}]},
    {**BASE, "lines": [{**LINE, "quantity": "2"}]},
    {**BASE, "lines": [{**LINE, "quantity": True}]},
    {**BASE, "lines": [{**LINE, "colour": "red"}]},
    {**BASE, "lines": [{**LINE, "sku": "x" * 65}]},
    {**BASE, "lines": [{"sku": "A"}]},
    {**BASE, "lines": {"sku": "A"}},
    {**BASE, "signals": {"ip_address": "2001:0db8::0001"}},
    {**BASE, "signals": {"device_id": 5}},
    {**BASE, "bonus": 1},
    {"member": "c-1", "order_id": "A-1"},
    ["not", "an", "object"],
]


def serializer_answer(body):
    try:
        return PurchaseInput().run_validation(body)
    except ValidationError as exc:
        return exc


@pytest.mark.parametrize("body", BODIES)
def test_fast_path_answers_as_the_serializer_or_not_at_all(body):
    fast = PurchaseInputFast(PurchaseInput())(body)
    expected = serializer_answer(body)
    if fast is None:
        return  # the serializer answers, errors and all
    assert not isinstance(expected, ValidationError), "the fast path let an invalid body in"
    assert fast == expected
    for key, value in expected.items():  # same types too (Decimal places, aware datetimes)
        assert repr(fast[key]) == repr(value)


def test_fast_path_takes_the_usual_bodies():
    fast = PurchaseInputFast(PurchaseInput())
    for body in BODIES[:13]:
        assert fast(body) is not None, body
