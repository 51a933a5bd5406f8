"""Webhooks: outbox rows with the change, signed deliveries to a real local HTTP server,
backoff, give-up, replay, and a slow receiver costing the worker only its timeout."""

import json
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from programs.api.tasks import sweep_webhook_deliveries_task
from programs.models import (
    WebhookDelivery,
    WebhookDeliveryState,
    WebhookEvent,
    WebhookEventType,
)
from programs.services import webhooks
from programs.services.webhooks import (
    MAX_ATTEMPTS,
    webhook_delivery_attempt,
    webhook_delivery_replay,
    webhook_events_emit,
    webhook_signature,
    webhook_signature_verify,
    webhook_subscription_create,
)
from tests.api.conftest import enroll_confirmed
from tests.factories import PartnerFactory, StaffFactory

POINTS = WebhookEventType.POINTS_AWARDED


@pytest.fixture
def subscription(partner, receiver):
    return webhook_subscription_create(
        partner=partner, url=receiver.url, events=[POINTS, WebhookEventType.TIER_CHANGED]
    )


def emit(membership, **data):
    return webhook_events_emit([(POINTS, membership, {"points": 10, **data})])


def test_events_go_to_subscribed_partners_that_linked_the_member(
    api, api_b, partner_b, member, subscription, receiver
):
    enroll_confirmed(api_b, "b-7", email="c-1@example.com")  # B links the same customer...
    webhook_subscription_create(partner=partner_b, url=receiver.url, events=[POINTS])
    stranger = PartnerFactory(programs=[member.program])  # ...a third partner does not
    webhook_subscription_create(partner=stranger, url=receiver.url, events=[POINTS])
    deliveries = emit(member)
    assert len(deliveries) == 2
    members = {e.partner_id: e.payload["data"]["member"] for e in WebhookEvent.objects.all()}
    assert members == {subscription.partner_id: "c-1", partner_b.pk: "b-7"}
    event = WebhookEvent.objects.get(partner=subscription.partner)
    assert event.payload["type"] == POINTS
    assert event.payload["id"] == str(event.event_id)
    assert event.payload["data"] == {"member": "c-1", "program": "treue", "points": 10}


def test_unsubscribed_types_and_inactive_subscriptions_write_nothing(member, subscription):
    assert webhook_events_emit([(WebhookEventType.REWARD_REDEEMED, member, {})]) == []
    subscription.is_active = False
    subscription.save()
    assert emit(member) == []
    assert not WebhookEvent.objects.exists()


def test_the_outbox_rolls_back_with_the_change(member, subscription, receiver):
    def change_that_fails():
        with transaction.atomic():
            emit(member)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    assert not WebhookEvent.objects.exists()
    assert not WebhookDelivery.objects.exists()
    assert receiver.requests == []


def test_delivery_is_signed_and_sent_after_commit(
    member, subscription, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        [delivery] = emit(member)
    assert receiver.requests == []  # nothing is sent before the commit
    for callback in callbacks:
        callback()
    [request] = receiver.requests
    headers, body = request["headers"], request["body"]
    event = WebhookEvent.objects.get()
    assert headers["Loyalty-Event-Id"] == str(event.event_id)
    assert headers["Loyalty-Event-Type"] == POINTS
    assert headers["Content-Type"] == "application/json"
    assert webhook_signature_verify(subscription.secret, headers["Loyalty-Signature"], body)
    assert json.loads(body) == event.payload
    delivery.refresh_from_db()
    assert delivery.state == WebhookDeliveryState.DELIVERED
    assert delivery.attempts == 1
    assert delivery.log[0]["status"] == 204


def test_signature_check_refuses_tampering_and_old_requests(subscription):
    body = b'{"id": "x"}'
    now = int(time.time())
    header = f"t={now},v1={webhook_signature(subscription.secret, now, body)}"
    assert webhook_signature_verify(subscription.secret, header, body)
    assert not webhook_signature_verify(subscription.secret, header, body + b" ")
    assert not webhook_signature_verify("whsec_other", header, body)
    assert not webhook_signature_verify(subscription.secret, header, body, now=now + 600)
    assert not webhook_signature_verify(subscription.secret, "garbage", body)


def test_failures_back_off_then_give_up(member, subscription, receiver):
    receiver.statuses = [500] * MAX_ATTEMPTS
    [delivery] = emit(member)
    now = timezone.now()
    assert webhook_delivery_attempt(delivery.pk, now=now) == WebhookDeliveryState.PENDING
    delivery.refresh_from_db()
    assert delivery.response_status == 500
    first_wait = delivery.next_attempt_at - now
    assert timedelta(seconds=29) < first_wait < timedelta(seconds=35)
    assert webhook_delivery_attempt(delivery.pk, now=now) is None  # not due yet
    waits, at = [], now
    while delivery.state == WebhookDeliveryState.PENDING:
        at = delivery.next_attempt_at
        webhook_delivery_attempt(delivery.pk, now=at)
        delivery.refresh_from_db()
        waits.append(delivery.next_attempt_at - at)
    assert delivery.state == WebhookDeliveryState.FAILED
    assert delivery.attempts == MAX_ATTEMPTS == len(receiver.requests)
    assert timedelta(hours=20) < at - now < timedelta(hours=30)  # about a day of retries
    assert max(waits[:-1]) <= timedelta(hours=3, seconds=5)
    assert len(delivery.log) == min(MAX_ATTEMPTS, 20)


def test_unreachable_receiver_is_retried(member, partner):
    dead = webhook_subscription_create(partner=partner, url="http://127.0.0.1:9/x", events=[POINTS])
    [delivery] = emit(member)
    assert delivery.subscription == dead
    assert webhook_delivery_attempt(delivery.pk) == WebhookDeliveryState.PENDING
    delivery.refresh_from_db()
    assert delivery.response_status is None
    assert delivery.last_error


def test_redirects_are_not_followed(member, subscription, receiver):
    receiver.statuses = [302]
    [delivery] = emit(member)
    webhook_delivery_attempt(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.state == WebhookDeliveryState.PENDING
    assert delivery.response_status == 302
    assert len(receiver.requests) == 1


def test_a_slow_receiver_costs_only_the_timeout(member, subscription, receiver, monkeypatch):
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 0.5)
    receiver.delay = 3
    [delivery] = emit(member)
    started = time.monotonic()
    webhook_delivery_attempt(delivery.pk)
    assert time.monotonic() - started < 2
    delivery.refresh_from_db()
    assert delivery.state == WebhookDeliveryState.PENDING
    assert "timed out" in delivery.last_error


def test_sweeper_sends_what_is_due(member, subscription, receiver):
    [delivery] = emit(member)  # on_commit never ran: the enqueue was "lost"
    assert sweep_webhook_deliveries_task() == 1
    delivery.refresh_from_db()
    assert delivery.state == WebhookDeliveryState.DELIVERED
    assert sweep_webhook_deliveries_task() == 0


def test_replay_sends_again(member, subscription, receiver, django_capture_on_commit_callbacks):
    receiver.statuses = [500]
    [delivery] = emit(member)
    webhook_delivery_attempt(delivery.pk)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state=WebhookDeliveryState.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        webhook_delivery_replay(delivery=delivery)
    delivery.refresh_from_db()
    assert delivery.state == WebhookDeliveryState.DELIVERED
    assert len(receiver.requests) == 2
    assert (
        receiver.requests[0]["headers"]["Loyalty-Event-Id"]
        == (receiver.requests[1]["headers"]["Loyalty-Event-Id"])
    )


@pytest.mark.parametrize(
    ("url", "events"),
    [("ftp://x", [POINTS]), ("https://x.example/h", []), ("https://x.example/h", ["nope"])],
)
def test_subscription_validation(partner, url, events):
    with pytest.raises(ValueError, match=r"URL|events"):
        webhook_subscription_create(partner=partner, url=url, events=events)


@override_settings(ROOT_URLCONF="tests.api.admin_urls")
def test_admin_subscribes_lists_and_replays(client, partner, member, receiver):
    client.force_login(StaffFactory())
    response = client.post(
        "/admin/programs/webhooksubscription/add/",
        {"partner": partner.pk, "url": receiver.url, "events": [POINTS]},
    )
    assert response.status_code == 302
    [delivery] = emit(member)
    subscription = delivery.subscription
    page = client.get(f"/admin/programs/webhooksubscription/{subscription.pk}/change/")
    assert subscription.secret in page.content.decode()
    listing = client.get("/admin/programs/webhookdelivery/")
    assert listing.status_code == 200
    assert client.get(f"/admin/programs/webhookdelivery/{delivery.pk}/change/").status_code == 200
    response = client.post(
        "/admin/programs/webhookdelivery/",
        {"action": "replay", "_selected_action": [delivery.pk]},
    )
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.state == WebhookDeliveryState.PENDING


def test_the_verification_code_in_the_docs_accepts_a_real_delivery(member, subscription, receiver):
    docs = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    snippet = next(
        block.split("```")[0] for block in docs.split("```python\n") if "def verify(" in block
    )
    namespace: dict = {"__name__": "docs"}  # the receiver's server does not start
    exec(compile(snippet, "docs/api.md", "exec"), namespace)  # noqa: S102 - our own docs
    [delivery] = emit(member)
    webhook_delivery_attempt(delivery.pk)
    [request] = receiver.requests
    signature = request["headers"]["Loyalty-Signature"]
    assert namespace["verify"](subscription.secret, signature, request["body"])
    assert not namespace["verify"](subscription.secret, signature, request["body"] + b"x")
