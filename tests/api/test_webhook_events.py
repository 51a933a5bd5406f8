"""Webhook events from real changes made through the API: a purchase, a tier upgrade, a
redemption, a referral. Celery runs eagerly in the tests, so the commit of a request runs
the award task, which commits the event, whose delivery reaches a real local receiver."""

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from programs.models import (
    LedgerEntry,
    Membership,
    Purchase,
    Referral,
    ReferralStatus,
    TierChange,
    WebhookDelivery,
    WebhookDeliveryState,
    WebhookEvent,
    WebhookEventType,
)
from programs.services.ledger import Actor
from programs.services.purchases import purchases_award
from programs.services.referrals import referral_release
from programs.services.rewards import reward_redeem
from programs.services.webhooks import webhook_signature_verify, webhook_subscription_create
from tests.api.conftest import enroll, enroll_confirmed
from tests.factories import PartnerFactory

ALL = WebhookEventType.values


def subscribe(partner, receiver, *events):
    return webhook_subscription_create(partner=partner, url=receiver.url, events=events or ALL)


def received(receiver) -> list[dict]:
    """The deliveries the receiver got, each checked against the signature with its
    subscription's secret and against its headers."""
    payloads = []
    for request in receiver.requests:
        headers, body = request["headers"], request["body"]
        payload = json.loads(body)
        delivery = WebhookDelivery.objects.get(event__event_id=payload["id"])
        secret = delivery.subscription.secret
        assert webhook_signature_verify(secret, headers["Loyalty-Signature"], body)
        assert headers["Loyalty-Event-Id"] == payload["id"]
        assert headers["Loyalty-Event-Type"] == payload["type"]
        payloads.append(payload)
    return payloads


def of_type(payloads, type):
    return [p for p in payloads if p["type"] == type]


def post_purchase(api, external_id, amount, order_id):
    response = api.post(
        "/api/v1/purchases",
        {"member": external_id, "order_id": order_id, "amount": amount},
        format="json",
    )
    assert response.status_code == 202, response.json()
    return response.json()


def test_a_posted_purchase_delivers_points_awarded(
    api, partner, receiver, django_capture_on_commit_callbacks
):
    enroll(api, "c-1")
    subscribe(partner, receiver, WebhookEventType.POINTS_AWARDED)
    with django_capture_on_commit_callbacks(execute=True):
        purchase = post_purchase(api, "c-1", "120.00", "A-1")
    [payload] = received(receiver)
    entry = LedgerEntry.objects.get(purchase_id=purchase["id"])
    assert payload["type"] == "points.awarded"
    assert payload["data"] == {
        "member": "c-1",
        "program": "treue",
        "entry_id": entry.pk,
        "points": 120,
        "pending": False,
        "available_at": payload["data"]["available_at"],
        "source": "purchase",
        "reason": "order A-1",
        "purchase_id": purchase["id"],
        "order_id": "A-1",
    }
    # available at once (not pending): the award's moment, in UTC on the wire; comparing
    # its date with the local date failed in the hour before midnight in Berlin
    available_at = parse_datetime(payload["data"]["available_at"])
    assert abs(available_at - timezone.now()) < timedelta(minutes=1)
    event = WebhookEvent.objects.get()
    assert payload == event.payload
    assert str(event.event_id) == payload["id"]
    assert WebhookDelivery.objects.get().state == WebhookDeliveryState.DELIVERED
    assert Purchase.objects.get(pk=purchase["id"]).points_awarded == 120


def test_pending_points_say_when_they_become_available(
    api, partner, program, receiver, django_capture_on_commit_callbacks
):
    program.pending_days = 14
    program.save()
    enroll(api, "c-1")
    subscribe(partner, receiver, WebhookEventType.POINTS_AWARDED)
    with django_capture_on_commit_callbacks(execute=True):
        post_purchase(api, "c-1", "50.00", "A-2")
    [payload] = received(receiver)
    assert payload["data"]["pending"] is True
    available_at = timezone.datetime.fromisoformat(payload["data"]["available_at"])
    assert timedelta(days=13) < available_at - timezone.now() <= timedelta(days=14)


def test_another_partner_of_the_member_learns_the_points_but_not_the_order(
    api, api_b, partner, partner_b, program, receiver, django_capture_on_commit_callbacks
):
    enroll(api, "c-1", email="shared@example.com")
    enroll_confirmed(api_b, "b-7", email="shared@example.com")  # B linked the same customer
    stranger = PartnerFactory(programs=[program])  # takes part, never linked the customer
    subscribe(partner, receiver)
    subscribe(partner_b, receiver)
    subscribe(stranger, receiver)
    with django_capture_on_commit_callbacks(execute=True):
        post_purchase(api, "c-1", "80.00", "SECRET-ORDER-9")
    events = WebhookEvent.objects.filter(type=WebhookEventType.POINTS_AWARDED)
    assert {e.partner_id for e in events} == {partner.pk, partner_b.pk}
    mine = events.get(partner=partner).payload["data"]
    theirs = events.get(partner=partner_b).payload["data"]
    assert (mine["member"], mine["order_id"], mine["reason"]) == (
        "c-1",
        "SECRET-ORDER-9",
        "order SECRET-ORDER-9",
    )
    assert theirs["member"] == "b-7"
    assert theirs["points"] == mine["points"] == 80
    assert (theirs["purchase_id"], theirs["order_id"], theirs["reason"]) == (None, None, "")
    assert "SECRET-ORDER-9" not in json.dumps(events.get(partner=partner_b).payload)
    # one delivery per linked partner, each signed with its own secret; none for the stranger
    assert sorted(p["data"]["member"] for p in received(receiver)) == ["b-7", "c-1"]


def test_a_partner_without_a_link_to_the_member_gets_nothing(
    api, partner_b, program, receiver, reward, django_capture_on_commit_callbacks
):
    subscribe(partner_b, receiver)  # B takes part in the program, subscribed to everything
    with django_capture_on_commit_callbacks(execute=True):
        enroll(api, "c-1")
        post_purchase(api, "c-1", "700.00", "A-3")  # points and a tier upgrade
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/members/c-1/redemptions", {"reward": reward.pk})
    assert response.status_code == 201, response.json()
    assert receiver.requests == []
    assert not WebhookEvent.objects.filter(partner=partner_b).exists()


def test_a_tier_upgrade_delivers_tier_changed(
    api, partner, receiver, django_capture_on_commit_callbacks
):
    enroll(api, "c-1")
    subscribe(partner, receiver, WebhookEventType.TIER_CHANGED)
    with django_capture_on_commit_callbacks(execute=True):
        post_purchase(api, "c-1", "200.00", "A-4")  # Bronze still
    assert receiver.requests == []
    with django_capture_on_commit_callbacks(execute=True):
        post_purchase(api, "c-1", "400.00", "A-5")  # 600 spent: Silber from 500
    [payload] = received(receiver)
    change = TierChange.objects.filter(to_tier__name="Silber").get()
    assert payload["type"] == "tier.changed"
    assert payload["data"] == {
        "member": "c-1",
        "program": "treue",
        "change_id": change.pk,
        "from_tier": "Bronze",
        "from_rank": 0,
        "to_tier": "Silber",
        "to_rank": 1,
        "direction": "up",
        "reason": change.reason,
    }
    balance = api.get("/api/v1/members/c-1/balance").json()["programs"][0]
    assert balance["tier"]["name"] == "Silber"


def test_a_redemption_delivers_reward_redeemed(
    api, partner, member, reward, receiver, django_capture_on_commit_callbacks
):
    subscribe(partner, receiver, WebhookEventType.REWARD_REDEEMED)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/members/c-1/redemptions", {"reward": reward.pk})
    assert response.status_code == 201, response.json()
    redemption = response.json()
    [payload] = received(receiver)
    assert payload["type"] == "reward.redeemed"
    assert payload["data"] == {
        "member": "c-1",
        "program": "treue",
        "redemption_id": redemption["id"],
        "reward_id": reward.pk,
        "reward": "Teetasse",
        "points": 100,
        "voucher_code": redemption["voucher_code"],
        "expires_at": None,  # the reward gives no expiry
    }


def test_a_released_referral_delivers_referral_rewarded(
    api, partner, member, receiver, django_capture_on_commit_callbacks
):
    subscribe(partner, receiver, WebhookEventType.REFERRAL_REWARDED)
    enroll(
        api,
        "c-friend",
        referral_code=member.referral_code,
        signals={"ip_address": "203.0.113.9", "device_id": "dev-1"},
    )
    with django_capture_on_commit_callbacks(execute=True):
        post_purchase(api, "c-friend", "25.00", "F-1")
    referral = Referral.objects.get()
    assert referral.status == ReferralStatus.QUALIFIED
    assert receiver.requests == []  # the referrer is rewarded after the return window
    with django_capture_on_commit_callbacks(execute=True):
        released = referral_release(referral.pk, now=referral.release_at + timedelta(seconds=1))
    assert (released.status, released.rejection_reason) == (ReferralStatus.REWARDED, "")
    [payload] = received(receiver)
    assert payload["type"] == "referral.rewarded"
    assert payload["data"] == {
        "member": "c-1",
        "program": "treue",
        "referral_id": referral.pk,
        "points": 500,
        "referee": "c-friend",
    }
    referral_made = api.get("/api/v1/members/c-1/referral").json()["programs"][0]["referrals"]
    assert [r["status"] for r in referral_made] == ["rewarded"]


def test_a_redemption_that_rolls_back_sends_nothing(
    api, partner, member, reward, receiver, django_capture_on_commit_callbacks
):
    subscribe(partner, receiver)

    def redeem_then_fail():
        with transaction.atomic():
            reward_redeem(membership=member, reward=reward, actor=Actor.for_partner(partner))
            assert WebhookEvent.objects.filter(type=WebhookEventType.REWARD_REDEEMED).exists()
            raise RuntimeError("a later step of the same change failed")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        redeem_then_fail()
    assert not WebhookEvent.objects.exists()
    assert not WebhookDelivery.objects.exists()
    assert receiver.requests == []
    member.refresh_from_db()
    assert member.balance == 300


def test_an_award_that_rolls_back_sends_nothing(
    api, partner, receiver, django_capture_on_commit_callbacks
):
    enroll(api, "c-1")
    subscribe(partner, receiver)
    purchase = post_purchase(api, "c-1", "900.00", "A-6")  # award not run: no commit here

    def award_then_fail():
        with transaction.atomic():
            purchases_award([purchase["id"]])
            assert WebhookEvent.objects.filter(type=WebhookEventType.TIER_CHANGED).exists()
            raise RuntimeError("a later step of the same change failed")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        award_then_fail()
    assert not WebhookEvent.objects.exists()  # neither points.awarded nor tier.changed
    assert receiver.requests == []
    membership = Membership.objects.get(customer__partner_links__external_id="c-1")
    assert (membership.balance, membership.tier.name) == (0, "Bronze")
