"""Two requests with one Idempotency-Key never both run: real PostgreSQL, real threads.

Each thread has its own connection and API client. The first test holds the first request
inside its work (after its claim committed) until the second has been answered, so the
overlap is certain, not left to timing; the second lets eight requests race.
"""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from programs.api.views import purchases as purchase_views
from programs.models import IdempotencyRecord, IdempotencyState, Purchase, Redemption
from tests.api.conftest import assert_problem, enroll

pytestmark = [pytest.mark.django_db(transaction=True)]

TIMEOUT = 30
BODY = {"member": "c-1", "order_id": "A-1", "amount": "10.00"}


def client_like(api) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api.plaintext}")
    return client


def in_thread(target) -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run():
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '5s'")
                cursor.execute("SET statement_timeout = '20s'")
            outcome["response"] = target()
        except Exception as exc:  # asserted on by the test
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_retry_while_the_first_runs_gets_409_then_the_stored_response(api, monkeypatch):
    enroll(api, "c-1")
    started, release = threading.Event(), threading.Event()
    real_record = purchase_views.purchase_record

    def slow_record(**kwargs):
        started.set()
        assert release.wait(TIMEOUT), "the test never released the first request"
        return real_record(**kwargs)

    monkeypatch.setattr(purchase_views, "purchase_record", slow_record)
    first_client = client_like(api)
    thread, outcome = in_thread(
        lambda: first_client.post("/api/v1/purchases", BODY, HTTP_IDEMPOTENCY_KEY="k-1")
    )
    assert started.wait(TIMEOUT), outcome
    # The claim is committed while the first request works: the retry sees it.
    assert IdempotencyRecord.objects.get().state == IdempotencyState.IN_PROGRESS
    retry = api.post("/api/v1/purchases", BODY, HTTP_IDEMPOTENCY_KEY="k-1")
    assert_problem(retry, 409, "idempotency_request_in_progress")
    assert retry["Retry-After"] == "1"
    release.set()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome
    first = outcome["response"]
    assert first.status_code == 202
    replay = api.post("/api/v1/purchases", BODY, HTTP_IDEMPOTENCY_KEY="k-1")
    assert replay.status_code == 202
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert Purchase.objects.count() == 1


def test_racing_redemptions_with_one_key_redeem_once(api, member, reward):
    count = 8
    barrier = threading.Barrier(count)
    clients = [client_like(api) for _ in range(count)]

    def redeem(client):
        barrier.wait(TIMEOUT)
        return client.post(
            "/api/v1/members/c-1/redemptions", {"reward": reward.pk}, HTTP_IDEMPOTENCY_KEY="r-1"
        )

    runs = [in_thread(lambda c=c: redeem(c)) for c in clients]
    for thread, _ in runs:
        thread.join(TIMEOUT)
    outcomes = [outcome for _, outcome in runs]
    assert all("response" in o for o in outcomes), outcomes
    responses = [o["response"] for o in outcomes]
    executed = [r for r in responses if r.status_code == 201 and "Idempotent-Replayed" not in r]
    replayed = [r for r in responses if r.status_code == 201 and "Idempotent-Replayed" in r]
    refused = [r for r in responses if r.status_code == 409]
    assert len(executed) == 1
    assert len(executed) + len(replayed) + len(refused) == count
    assert all(r.json()["code"] == "idempotency_request_in_progress" for r in refused)
    assert {r.json()["voucher_code"] for r in executed + replayed} == {
        executed[0].json()["voucher_code"]
    }
    assert Redemption.objects.count() == 1
    member.refresh_from_db()
    assert member.balance == 200
