"""The Idempotency-Key header: replay, conflict, in progress, stale claims."""

from datetime import timedelta

import pytest
from django.utils import timezone

from programs.api.tasks import purge_idempotency_records_task
from programs.models import IdempotencyRecord, IdempotencyState, Purchase, Redemption
from programs.services.idempotency import (
    IdempotencyRequestInProgress,
    idempotency_claim,
    idempotency_complete,
    idempotency_records_purge,
    request_fingerprint,
)
from tests.api.conftest import assert_problem, enroll

BODY = {"member": "c-1", "order_id": "A-1", "amount": "10.00"}


@pytest.fixture
def shopper(api):
    enroll(api, "c-1")


def post(api, body=BODY, key="key-1", path="/api/v1/purchases"):
    return api.post(path, body, HTTP_IDEMPOTENCY_KEY=key)


def test_retry_with_same_key_replays_the_first_response(api, shopper):
    first = post(api)
    assert first.status_code == 202
    assert "Idempotent-Replayed" not in first
    again = post(api)
    assert again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Purchase.objects.count() == 1
    record = IdempotencyRecord.objects.get()
    assert record.state == IdempotencyState.COMPLETED
    assert record.response_status == 202


def test_key_order_and_whitespace_do_not_matter(api, shopper):
    post(api)
    reordered = api.post(
        "/api/v1/purchases",
        '{"amount": "10.00",   "order_id": "A-1", "member": "c-1"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="key-1",
    )
    assert reordered["Idempotent-Replayed"] == "true"


def test_same_key_other_body_is_422(api, shopper):
    post(api)
    body = assert_problem(post(api, {**BODY, "amount": "11.00"}), 422, "idempotency_key_reused")
    assert "different request" in body["detail"]
    assert Purchase.objects.count() == 1


def test_same_key_other_endpoint_is_422(api, shopper, reward):
    post(api)
    assert_problem(
        post(api, {"reward": reward.pk}, path="/api/v1/members/c-1/redemptions"),
        422,
        "idempotency_key_reused",
    )
    assert not Redemption.objects.exists()


def test_a_failed_request_stores_nothing_and_the_key_can_be_reused(api, shopper):
    assert_problem(post(api, {**BODY, "amount": "10.001"}), 400, "validation_error")
    assert not IdempotencyRecord.objects.exists()
    assert post(api).status_code == 202


def test_a_domain_error_stores_nothing(api, member, reward):
    reward.points_cost = 10_000
    reward.save()
    path = "/api/v1/members/c-1/redemptions"
    assert_problem(post(api, {"reward": reward.pk}, path=path), 409, "insufficient_points")
    assert not IdempotencyRecord.objects.exists()


def test_redemption_is_not_repeated(api, member, reward):
    path = "/api/v1/members/c-1/redemptions"
    first = post(api, {"reward": reward.pk}, key="redeem-1", path=path)
    again = post(api, {"reward": reward.pk}, key="redeem-1", path=path)
    assert first.status_code == again.status_code == 201
    assert again.json()["voucher_code"] == first.json()["voucher_code"]
    assert Redemption.objects.count() == 1
    member.refresh_from_db()
    assert member.balance == 200
    # Without a key (or with a new one) it is a new redemption.
    assert post(api, {"reward": reward.pk}, key="redeem-2", path=path).status_code == 201
    assert Redemption.objects.count() == 2


def test_keys_belong_to_one_partner(api, api_b, shopper):
    enroll(api_b, "c-1")
    assert post(api).status_code == 202
    theirs = post(api_b)
    assert theirs.status_code == 202
    assert "Idempotent-Replayed" not in theirs
    assert Purchase.objects.count() == 2


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "tab\tkey", "ümlaut"])
def test_invalid_keys_are_400(api, shopper, key):
    assert_problem(post(api, key=key), 400, "invalid_idempotency_key")
    assert not Purchase.objects.exists()


def _claim(partner, key="key-1", locked_at=None):
    path = "/api/v1/purchases"
    return IdempotencyRecord.objects.create(
        partner=partner,
        key=key,
        method="POST",
        path=path,
        request_hash=request_fingerprint("POST", path, BODY),
        lock_token="old",
        locked_at=locked_at or timezone.now(),
    )


def test_a_running_request_makes_the_retry_409(api, partner, shopper):
    _claim(partner)
    response = post(api)
    assert_problem(response, 409, "idempotency_request_in_progress")
    assert response["Retry-After"] == "1"
    assert not Purchase.objects.exists()


def test_a_stale_claim_is_taken_over(api, partner, shopper):
    _claim(partner, locked_at=timezone.now() - timedelta(minutes=10))
    response = post(api)
    assert response.status_code == 202
    assert IdempotencyRecord.objects.get().state == IdempotencyState.COMPLETED


def test_the_old_holder_cannot_complete_after_a_takeover(partner):
    path = "/api/v1/purchases"
    digest = request_fingerprint("POST", path, BODY)
    old = idempotency_claim(
        partner=partner,
        key="k",
        method="POST",
        path=path,
        request_hash=digest,
        now=timezone.now() - timedelta(minutes=10),
    )
    new = idempotency_claim(partner=partner, key="k", method="POST", path=path, request_hash=digest)
    assert new.pk == old.pk
    assert new.lock_token != old.lock_token
    with pytest.raises(IdempotencyRequestInProgress):
        idempotency_complete(record=old, status=202, body="{}")
    idempotency_complete(record=new, status=202, body='{"id": 1}')
    replay = idempotency_claim(
        partner=partner, key="k", method="POST", path=path, request_hash=digest
    )
    assert replay.response_body == '{"id": 1}'


def test_old_records_are_purged(partner):
    _claim(partner, key="old")
    _claim(partner, key="new")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=25)
    )
    assert idempotency_records_purge() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_batch_and_refund_and_cancel_and_action_honour_keys(api, member, reward):
    batch = {"purchases": [{"member": "c-1", "order_id": "B-1", "amount": "1.00"}]}
    first = post(api, batch, key="b", path="/api/v1/purchases/batch")
    again = post(api, batch, key="b", path="/api/v1/purchases/batch")
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    purchase_id = first.json()["results"][0]["purchase"]["id"]
    refund_path = f"/api/v1/purchases/{purchase_id}/refunds"
    post(api, {"refund_id": "r", "amount": "1.00"}, key="r", path=refund_path)
    replay = post(api, {"refund_id": "r", "amount": "1.00"}, key="r", path=refund_path)
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    redemption = api.post("/api/v1/members/c-1/redemptions", {"reward": reward.pk}).json()
    cancel_path = f"/api/v1/redemptions/{redemption['id']}/cancel"
    assert post(api, None, key="c", path=cancel_path).status_code == 200
    second = post(api, None, key="c", path=cancel_path)
    assert second.status_code == 200
    assert second["Idempotent-Replayed"] == "true"


def test_purge_task(partner):
    _claim(partner, key="old")
    IdempotencyRecord.objects.update(created_at=timezone.now() - timedelta(days=2))
    assert purge_idempotency_records_task() == 1


def test_a_stored_response_may_hold_any_character(api, shopper):
    body = {"purchases": [{"a\x00b": 1}]}
    first = post(api, body, key="nul", path="/api/v1/purchases/batch")
    assert first.status_code == 200
    assert first.json()["results"][0]["result"] == "error"
    again = post(api, body, key="nul", path="/api/v1/purchases/batch")
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
