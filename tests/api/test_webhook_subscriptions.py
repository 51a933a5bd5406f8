"""Partners manage their own webhook subscriptions: secret shown once, changes, deletion,
rotation, the URL policy against SSRF, and no reach into another partner's."""

import json
import socket

import pytest
from django.test import override_settings

from programs.models import WebhookDelivery, WebhookEventType, WebhookSubscription
from programs.services.webhooks import (
    MAX_SUBSCRIPTIONS_PER_PARTNER,
    webhook_delivery_attempt,
    webhook_events_emit,
    webhook_signature_verify,
)
from tests.api.conftest import assert_problem, client_for

URL = "https://93.184.215.14/hooks"  # a public address: no DNS needed
POINTS = WebhookEventType.POINTS_AWARDED


def create(client, url=URL, events=(POINTS,), **fields):
    return client.post(
        "/api/v1/webhooks", {"url": url, "events": list(events), **fields}, format="json"
    )


def created(client, **kwargs) -> dict:
    response = create(client, **kwargs)
    assert response.status_code == 201, response.json()
    return response.json()


def test_create_shows_the_secret_once(api, partner):
    body = created(api, events=[POINTS, "tier.changed", POINTS])
    stored = WebhookSubscription.objects.get()
    assert body["secret"] == stored.secret
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["points.awarded", "tier.changed"]
    assert (body["url"], body["is_active"], stored.partner) == (URL, True, partner)
    listed = api.get("/api/v1/webhooks").json()
    assert [s["id"] for s in listed] == [body["id"]]
    detail = api.get(f"/api/v1/webhooks/{body['id']}").json()
    assert "secret" not in listed[0]
    assert "secret" not in detail
    assert detail["url"] == URL


def test_update_delete_and_a_paused_subscription(api):
    body = created(api)
    path = f"/api/v1/webhooks/{body['id']}"
    changed = api.patch(path, {"events": ["reward.redeemed"], "is_active": False}, format="json")
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["events"], changed.json()["is_active"]) == (["reward.redeemed"], False)
    assert changed.json()["url"] == URL
    moved = api.patch(path, {"url": "https://93.184.215.15/new"}, format="json").json()
    assert moved["url"] == "https://93.184.215.15/new"
    assert moved["events"] == ["reward.redeemed"]
    assert_problem(api.patch(path, {"events": []}, format="json"), 400, "validation_error")
    assert_problem(api.patch(path, {"secret": "mine"}, format="json"), 400, "validation_error")
    assert api.delete(path).status_code == 204
    assert_problem(api.get(path), 404, "webhook_not_found")
    assert not WebhookSubscription.objects.exists()


@override_settings(
    OUTBOUND_ALLOW_PRIVATE_NETWORKS=True
)  # the local receiver is allowed on a development server
def test_deliveries_verify_with_the_secret_and_rotation_replaces_it(api, member, receiver):
    body = created(api, url=receiver.url)
    webhook_events_emit([(POINTS, member, {"points": 5})])
    webhook_delivery_attempt(WebhookDelivery.objects.get().pk)
    first = receiver.requests[0]
    assert webhook_signature_verify(
        body["secret"], first["headers"]["Loyalty-Signature"], first["body"]
    )
    assert json.loads(first["body"])["data"]["member"] == "c-1"

    rotated = api.post(f"/api/v1/webhooks/{body['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.json()
    new_secret = rotated.json()["secret"]
    assert new_secret != body["secret"]
    webhook_events_emit([(POINTS, member, {"points": 6})])
    webhook_delivery_attempt(WebhookDelivery.objects.order_by("-pk").first().pk)
    second = receiver.requests[1]
    signature = second["headers"]["Loyalty-Signature"]
    assert webhook_signature_verify(new_secret, signature, second["body"])
    assert not webhook_signature_verify(body["secret"], signature, second["body"])


def test_another_partner_cannot_see_or_touch_a_subscription(api, api_b):
    body = created(api)
    path = f"/api/v1/webhooks/{body['id']}"
    assert api_b.get("/api/v1/webhooks").json() == []
    assert_problem(api_b.get(path), 404, "webhook_not_found")
    patched = api_b.patch(path, {"url": "https://93.184.215.16/steal"}, format="json")
    assert_problem(patched, 404, "webhook_not_found")
    assert_problem(api_b.post(f"{path}/rotate-secret"), 404, "webhook_not_found")
    assert_problem(api_b.delete(path), 404, "webhook_not_found")
    stored = WebhookSubscription.objects.get()
    assert (stored.url, stored.secret) == (URL, body["secret"])


def test_a_read_only_key_may_not_even_list(partner, api):
    created(api)
    reader = client_for(partner, scopes=("read", "redeem"))
    assert_problem(reader.get("/api/v1/webhooks"), 403, "insufficient_scope")
    assert_problem(create(reader), 403, "insufficient_scope")


def fake_dns(monkeypatch, address):
    def getaddrinfo(host, port, *args, **kwargs):
        if address is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.215.14/hooks",
        "https://127.0.0.1/hooks",
        "https://localhost:8443/hooks",
        "https://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://0.0.0.0/hooks",
        "https://user:pw@93.184.215.14/hooks",
        "ftp://93.184.215.14/hooks",
    ],
)
def test_urls_a_partner_may_not_subscribe(api, url):
    problem = assert_problem(create(api, url=url), 400, "validation_error")
    assert problem["errors"][0]["field"] == "url"
    assert not WebhookSubscription.objects.exists()


def test_a_name_resolving_to_a_private_address_is_refused(api, monkeypatch):
    fake_dns(monkeypatch, "10.0.0.7")
    problem = assert_problem(
        create(api, url="https://hooks.example.com/x"), 400, "validation_error"
    )
    assert problem["errors"][0]["code"] == "url_not_allowed"
    assert "10.0.0.7" in problem["errors"][0]["detail"]
    fake_dns(monkeypatch, None)
    problem = assert_problem(create(api, url="https://nowhere.example/x"), 400, "validation_error")
    assert "cannot be resolved" in problem["errors"][0]["detail"]
    fake_dns(monkeypatch, "93.184.215.14")
    assert create(api, url="https://hooks.example.com/x").status_code == 201


def test_an_update_is_checked_like_a_creation(api):
    body = created(api)
    response = api.patch(
        f"/api/v1/webhooks/{body['id']}", {"url": "https://127.0.0.1/x"}, format="json"
    )
    assert_problem(response, 400, "validation_error")
    assert WebhookSubscription.objects.get().url == URL


@override_settings(OUTBOUND_ALLOW_PRIVATE_NETWORKS=True)
def test_a_development_server_takes_local_http(api):
    assert created(api, url="http://127.0.0.1:8001/hooks")["url"] == "http://127.0.0.1:8001/hooks"


def test_the_number_of_subscriptions_is_capped(api):
    for n in range(MAX_SUBSCRIPTIONS_PER_PARTNER):
        created(api, url=f"{URL}/{n}")
    problem = assert_problem(create(api), 400, "validation_error")
    assert problem["errors"][0]["code"] == "subscription_limit_reached"


def test_a_retried_create_with_the_same_key_creates_one(api):
    headers = {"HTTP_IDEMPOTENCY_KEY": "hook-1"}
    body = {"url": URL, "events": [POINTS]}
    first = api.post("/api/v1/webhooks", body, format="json", **headers)
    again = api.post("/api/v1/webhooks", body, format="json", **headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert WebhookSubscription.objects.count() == 1
