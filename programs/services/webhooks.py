"""Webhooks: subscriptions, signatures, and sending the deliveries that
``programs.services.webhook_events`` writes to the outbox with each change.

* Deliveries go through the shared outbox (``loyalty_site.core.outbox``): a chunk is
  claimed with a lease, each delivery POSTed outside any transaction with a short timeout
  and its outcome logged; failures are retried with exponential backoff for about a day,
  then given up; staff can send one again. A slow or dead receiver costs the worker at most
  the timeout, never the API.
* Each request carries ``Loyalty-Event-Id`` (for the receiver to deduplicate) and
  ``Loyalty-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with the
  subscription's secret; receivers refuse old timestamps, so a captured request cannot be
  replayed later (``webhook_signature_verify`` shows how).
* Every POST goes through ``loyalty_site.core.outbound``: the host is resolved again at
  send time and must still be public, the connection goes to the address checked,
  redirects are not followed and the whole call is bounded; a refusal is logged on the
  delivery like any failed attempt.
"""

import hashlib
import hmac
import http.client
import json
import logging
import secrets
import time
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from loyalty_site.core import outbound
from loyalty_site.core.outbox import Attempt, Outbox, Outcome
from programs.errors import SubscriptionLimitReached
from programs.models import (
    Partner,
    WebhookDelivery,
    WebhookDeliveryState,
    WebhookEvent,
    WebhookEventType,
    WebhookSubscription,
)
from programs.services.webhook_events import webhook_deliveries_enqueue
from programs.services.webhook_events import webhook_events_emit as webhook_events_emit

logger = logging.getLogger("programs.webhooks")

TIMEOUT_SECONDS = 10
LOG_LENGTH = 20
USER_AGENT = "loyalty-platform-webhooks/1"
MAX_ATTEMPTS = 16  # 30 s doubling to a 3 h cap: the last attempt about 25 h after the first
WEBHOOKS = Outbox(
    name="webhook delivery",
    model=WebhookDelivery,
    done=WebhookDeliveryState.DELIVERED,
    failed=WebhookDeliveryState.FAILED,
    # longer than a task may run (its hard time limit), so a slow chunk is never handed to
    # a second worker while the first still sends it
    lease=timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60),
    first_retry=timedelta(seconds=30),
    max_retry=timedelta(hours=3),
    max_attempts=MAX_ATTEMPTS,
)


def webhook_secret_generate() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


MAX_SUBSCRIPTIONS_PER_PARTNER = 10


def _events_chosen(events: Iterable[str]) -> list[str]:
    wanted = set(events)
    if wanted - set(WebhookEventType.values) or not wanted:
        raise ValueError(f"Choose events from {', '.join(WebhookEventType.values)}.")
    return [e for e in WebhookEventType.values if e in wanted]


def webhook_url_problem(url: str) -> str | None:
    """Why a partner may not subscribe ``url``, or None: https, no credentials, and a host
    that resolves only to public addresses (``loyalty_site.core.outbound``; checked again
    at every delivery), unless ``OUTBOUND_ALLOW_PRIVATE_NETWORKS`` is on (development)."""
    return outbound.url_problem(url, allow_private=settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS)


@transaction.atomic
def webhook_subscription_create(
    *,
    partner: Partner,
    url: str,
    events: Iterable[str],
    is_active: bool = True,
    limit: int | None = None,
) -> WebhookSubscription:
    """Subscribe ``url`` (checked by the caller: staff may use any http(s) URL, partners
    only what ``webhook_url_problem`` allows). With ``limit``, the partner row is locked
    while counting, so concurrent requests cannot pass the limit together."""
    chosen = _events_chosen(events)
    if not url.startswith(("https://", "http://")):
        raise ValueError("The URL must start with https:// (or http:// for testing).")
    if limit is not None:
        Partner.objects.select_for_update().filter(pk=partner.pk).first()
        if WebhookSubscription.objects.filter(partner=partner).count() >= limit:
            raise SubscriptionLimitReached(limit=limit)
    return WebhookSubscription.objects.create(
        partner=partner,
        url=url,
        events=chosen,
        is_active=is_active,
        secret=webhook_secret_generate(),
    )


def webhook_subscription_update(
    *,
    subscription: WebhookSubscription,
    url: str | None = None,
    events: Iterable[str] | None = None,
    is_active: bool | None = None,
) -> WebhookSubscription:
    """Change where and what is sent. Deliveries not yet sent go to the new URL."""
    fields = []
    if events is not None:
        subscription.events = _events_chosen(events)
        fields.append("events")
    if url is not None:
        if not url.startswith(("https://", "http://")):
            raise ValueError("The URL must start with https:// (or http:// for testing).")
        subscription.url = url
        fields.append("url")
    if is_active is not None:
        subscription.is_active = is_active
        fields.append("is_active")
    if fields:
        subscription.save(update_fields=fields)
    return subscription


def webhook_subscription_delete(*, subscription: WebhookSubscription) -> None:
    """Stop sending: the subscription goes with its deliveries (and their logs)."""
    subscription.delete()


def webhook_secret_rotate(*, subscription: WebhookSubscription) -> WebhookSubscription:
    """A new signing secret, valid at once: every delivery from now on (retries of older
    events too) is signed with it; the old one verifies nothing more."""
    subscription.secret = webhook_secret_generate()
    subscription.save(update_fields=["secret"])
    return subscription


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_signature_verify(
    secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: check the signature and refuse timestamps off by > tolerance."""
    parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret, timestamp, body)
    return hmac.compare_digest(expected, parts.get("v1", ""))


def _send(subscription: WebhookSubscription, event: WebhookEvent) -> tuple[int | None, str]:
    """POST the event; (status, "") for an answer, (None, why) when there was none or the
    call was refused (the host now resolves to a private address, for example)."""
    body = json.dumps(event.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Loyalty-Event-Id": str(event.event_id),
        "Loyalty-Event-Type": event.type,
        "Loyalty-Signature": (
            f"t={timestamp},v1={webhook_signature(subscription.secret, timestamp, body)}"
        ),
    }
    try:
        answer = outbound.post(
            subscription.url,
            body,
            headers,
            deadline=TIMEOUT_SECONDS,
            allow_private=settings.OUTBOUND_ALLOW_PRIVATE_NETWORKS,
        )
    except outbound.Refused as exc:
        return None, f"refused: {exc}"[:500]
    except TimeoutError as exc:
        return None, f"timed out: {exc}"[:500]
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return None, (str(exc) or type(exc).__name__)[:500]
    if 200 <= answer.status < 300:
        return answer.status, ""
    return answer.status, f"HTTP {answer.status}"


def _load(delivery_ids: list[int]) -> dict[int, WebhookDelivery]:
    return WebhookDelivery.objects.select_related("event", "subscription").in_bulk(delivery_ids)


def _attempt(delivery: WebhookDelivery) -> Attempt:
    """POST one claimed delivery and report the outcome with its log entry."""
    subscription = delivery.subscription
    started = time.monotonic()
    if subscription.is_active:
        status, error = _send(subscription, delivery.event)
    else:
        status, error = None, "subscription inactive"
    finished = timezone.now()
    ok = status is not None and 200 <= status < 300
    entry = {
        "at": finished.isoformat(),
        "status": status,
        "error": error,
        "ms": int((time.monotonic() - started) * 1000),
    }
    values = {"log": [*delivery.log, entry][-LOG_LENGTH:], "response_status": status}
    logger.info(
        "webhook %s %s to %s: attempt %d, %s",
        delivery.event.type,
        delivery.event.event_id,
        subscription.url,
        delivery.attempts,
        "delivered" if ok else (error or f"HTTP {status}"),
    )
    if ok:
        return Attempt(values={**values, "delivered_at": finished})
    return Attempt(error=error or f"HTTP {status}", values=values, retry=subscription.is_active)


def webhook_deliveries_send(delivery_ids: Iterable[int], now=None) -> list[tuple[int, Outcome]]:
    """Send the due ones of these deliveries (claimed together, each POSTed and its
    outcome recorded as it comes); the others (not pending, not yet time, leased by
    another worker) are left out. A delivery that cannot be attempted at all (a broken
    row) is given up with the reason, and the others go on."""
    return WEBHOOKS.send(delivery_ids, _attempt, now=now, load=_load)


def webhook_delivery_attempt(delivery_id: int, now=None) -> str | None:
    """Send one due delivery. Returns its new state, or None if it was not due."""
    sent = webhook_deliveries_send([delivery_id], now=now)
    return sent[0][1].state if sent else None


def webhook_deliveries_due(now=None, limit: int = 5000) -> list[int]:
    return WEBHOOKS.due(now, limit)


@transaction.atomic
def webhook_delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Staff send a delivery again (after a fix on the receiver's side), whatever its
    state, with a fresh series of attempts."""
    WEBHOOKS.resend([delivery.pk])
    webhook_deliveries_enqueue([delivery.pk])
    delivery.refresh_from_db()
    return delivery
