"""Webhooks: events written to an outbox with the change that caused them, delivered by
the worker, signed, retried with exponential backoff for about a day, logged.

* ``webhook_events_emit`` is called (through ``events.event_record``) *inside* a
  service's transaction: the event rows commit or roll back with the change; delivery is
  enqueued only after the commit.
* ``webhook_delivery_attempt`` claims a due delivery with a conditional update (a lease),
  sends it outside any transaction with a short timeout, and records the outcome. A slow
  or dead receiver costs the worker at most the timeout, never the API.
* Each request carries ``Loyalty-Event-Id`` (for the receiver to deduplicate) and
  ``Loyalty-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` with the
  subscription's secret; receivers refuse old timestamps, so a captured request cannot be
  replayed later (``webhook_signature_verify`` shows how).
"""

import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Sequence
from datetime import timedelta
from urllib.parse import urlsplit

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from loyalty_site.core.commit import enqueue_after_commit
from programs.errors import SubscriptionLimitReached
from programs.models import (
    LedgerEntry,
    Membership,
    Partner,
    PartnerCustomer,
    Program,
    Referral,
    TierChange,
    WebhookDelivery,
    WebhookDeliveryState,
    WebhookEvent,
    WebhookEventType,
    WebhookSubscription,
)

logger = logging.getLogger("programs.webhooks")

TIMEOUT_SECONDS = 10
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 16  # 30 s doubling to a 3 h cap: the last attempt about 25 h after the first
FIRST_RETRY = timedelta(seconds=30)
MAX_RETRY = timedelta(hours=3)
LOG_LENGTH = 20
USER_AGENT = "loyalty-platform-webhooks/1"
INSERT_ROWS = 2000  # rows per INSERT: PostgreSQL takes at most 65,535 parameters a statement


def webhook_secret_generate() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


MAX_SUBSCRIPTIONS_PER_PARTNER = 10


def _events_chosen(events: Iterable[str]) -> list[str]:
    wanted = set(events)
    if wanted - set(WebhookEventType.values) or not wanted:
        raise ValueError(f"Choose events from {', '.join(WebhookEventType.values)}.")
    return [e for e in WebhookEventType.values if e in wanted]


def webhook_url_problem(url: str, *, allow_local: bool) -> str | None:
    """Why a partner may not subscribe ``url``, or None. Outside ``allow_local`` (DEBUG) the
    URL must be https and its host must resolve only to public addresses, so a partner
    cannot make the worker call the platform's own network (SSRF)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "This is not a valid URL."
    schemes = ("https", "http") if allow_local else ("https",)
    if parts.scheme not in schemes:
        return "The URL must start with https://."
    if parts.username or parts.password:
        return "The URL must not contain a user name or password."
    host = parts.hostname
    if not host:
        return "The URL has no host."
    if allow_local:
        return None
    try:
        found = socket.getaddrinfo(host, port or 443, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return f"The host {host} cannot be resolved."
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global:
            return (
                f"The host {host} resolves to {address}, a private, loopback or reserved "
                "address; webhooks go to public addresses only."
            )
    return None


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


def _partner_views(
    type: str, data: dict, partner_ids: set[int], loaded: dict[str, dict]
) -> dict[int, dict]:
    """The event's ``data`` as each partner may see it, as the API would show it: a purchase
    (id, order id, reason) only to the partner that posted it, the referred friend by the
    partner's own external id, tiers with their rank. ``loaded``: the ledger entries (with
    their purchases) and tier changes (with their tiers) of all events, by id."""
    views = {partner_id: dict(data) for partner_id in partner_ids}
    if type == WebhookEventType.POINTS_AWARDED and data.get("entry_id"):
        entry = loaded["entries"].get(data["entry_id"])
        purchase = entry.purchase if entry else None
        for partner_id, view in views.items():
            own = purchase if purchase and purchase.partner_id == partner_id else None
            view["purchase_id"] = own.pk if own else None
            view["order_id"] = own.order_id if own else None
            if entry and entry.actor_partner_id not in (None, partner_id):
                view["reason"] = ""  # another partner's words (its order number)
    elif type == WebhookEventType.REFERRAL_REWARDED and data.get("referral_id"):
        friend = (
            Referral.objects.filter(pk=data["referral_id"])
            .values_list("referee__customer_id", flat=True)
            .first()
        )
        external_ids = dict(
            PartnerCustomer.objects.filter(customer=friend, partner__in=partner_ids).values_list(
                "partner_id", "external_id"
            )
        )
        for partner_id, view in views.items():
            view["referee"] = external_ids.get(partner_id)
    elif type == WebhookEventType.PURCHASE_FAILED:
        for view in views.values():
            view.pop("partner_id", None)  # it chose the audience (``_audience``)
    elif type == WebhookEventType.TIER_CHANGED and data.get("change_id"):
        change = loaded["changes"].get(data["change_id"])
        if change:
            for view in views.values():
                view["from_rank"] = change.from_tier.rank if change.from_tier else None
                view["to_rank"] = change.to_tier.rank if change.to_tier else None
    return views


def _audience(type: str, data: dict, subscriptions: list) -> list:
    """The subscriptions an event goes to: a failed purchase only to its own partner."""
    if type == WebhookEventType.PURCHASE_FAILED:
        return [s for s in subscriptions if s[1] == data.get("partner_id")]
    return subscriptions


def webhook_events_emit(
    items: Sequence[tuple[str, Membership, dict]], at=None
) -> list[WebhookDelivery]:
    """Write each ``(type, membership, data)`` event, in order, for every partner that
    linked the member, takes part in the program and subscribed to ``type``. Call inside
    the transaction of the change (``events.event_record`` does). A bounded number of
    queries whatever the number of items: one for the subscriptions of all memberships,
    one for the programs' slugs (unless loaded with the memberships), one for the ledger
    entries of ``points.awarded``, one for the tier changes of ``tier.changed``
    (``referral.rewarded`` loads its extras per item), two bulk inserts. The deliveries are
    enqueued after the commit in chunks of ``tasks.CHUNK``."""
    if not items:
        return []
    at = at or timezone.now()
    rows = (
        WebhookSubscription.objects.filter(
            is_active=True,
            partner__is_active=True,
            partner__programs__in={m.program_id for _t, m, _d in items},
            partner__customer_links__customer__any={m.customer_id for _t, m, _d in items},
        )
        .order_by("pk")
        .values_list(
            "pk",
            "partner_id",
            "events",
            "partner__programs",
            "partner__customer_links__customer",
            "partner__customer_links__external_id",
        )
    )
    found: dict[tuple[int, int], list[tuple[int, int, str, list[str]]]] = {}
    for pk, partner_id, subscribed, program_id, customer_id, external_id in rows:
        found.setdefault((program_id, customer_id), []).append(
            (pk, partner_id, external_id, subscribed)
        )
    wanted = [
        (type, membership, data, _audience(type, data, [s for s in found[key] if type in s[3]]))
        for type, membership, data in items
        if (key := (membership.program_id, membership.customer_id)) in found
    ]
    wanted = [item for item in wanted if item[3]]
    if not wanted:
        return []
    slugs = {
        m.program_id: m.program.slug for _t, m, _d, _s in wanted if Membership.program.is_cached(m)
    }
    missing = {m.program_id for _t, m, _d, _s in wanted} - set(slugs)
    if missing:
        slugs.update(Program.objects.filter(pk__in=missing).values_list("pk", "slug"))
    loaded = {"entries": {}, "changes": {}}
    entry_ids = [
        d["entry_id"]
        for t, _m, d, _s in wanted
        if t == WebhookEventType.POINTS_AWARDED and d.get("entry_id")
    ]
    if entry_ids:
        loaded["entries"] = LedgerEntry.objects.select_related("purchase").in_bulk(entry_ids)
    change_ids = [
        d["change_id"]
        for t, _m, d, _s in wanted
        if t == WebhookEventType.TIER_CHANGED and d.get("change_id")
    ]
    if change_ids:
        loaded["changes"] = TierChange.objects.select_related("from_tier", "to_tier").in_bulk(
            change_ids
        )
    events: list[WebhookEvent] = []
    pairs: list[tuple[WebhookEvent, int]] = []
    for type, membership, data, subscriptions in wanted:
        views = _partner_views(type, data, {p for _s, p, _e, _t in subscriptions}, loaded)
        by_partner: dict[int, WebhookEvent] = {}
        for subscription_id, partner_id, external_id, _types in subscriptions:
            event = by_partner.get(partner_id)
            if event is None:
                event_id = uuid.uuid4()
                payload = {
                    "id": str(event_id),
                    "type": type,
                    "created_at": at.isoformat(),
                    "data": {
                        "member": external_id,
                        "program": slugs[membership.program_id],
                        **views[partner_id],
                    },
                }
                event = by_partner[partner_id] = WebhookEvent(
                    event_id=event_id,
                    partner_id=partner_id,
                    type=type,
                    payload=json.loads(json.dumps(payload, cls=DjangoJSONEncoder)),
                )
                events.append(event)
            pairs.append((event, subscription_id))
    WebhookEvent.objects.bulk_create(events, batch_size=INSERT_ROWS)
    sent_at = timezone.now()
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(event=event, subscription_id=subscription_id, next_attempt_at=sent_at)
            for event, subscription_id in pairs
        ],
        batch_size=INSERT_ROWS,
    )
    _enqueue([d.pk for d in deliveries])
    return deliveries


def _enqueue(delivery_ids: Sequence[int]) -> None:
    """Enqueue the deliveries after the commit, ``tasks.CHUNK`` a task; a broker outage
    must not fail the change (the sweeper sends them later)."""
    from programs.api.tasks import CHUNK, deliver_webhooks_task

    ids = list(delivery_ids)
    for start in range(0, len(ids), CHUNK):
        enqueue_after_commit(deliver_webhooks_task, ids[start : start + CHUNK])


def _retry_delay(attempts: int) -> timedelta:
    return min(FIRST_RETRY * 2 ** max(0, attempts - 1), MAX_RETRY)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer like any other non-2xx: not followed


_opener = urllib.request.build_opener(_NoRedirects)


def _send(subscription: WebhookSubscription, event: WebhookEvent) -> tuple[int | None, str]:
    body = json.dumps(event.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    request = urllib.request.Request(  # noqa: S310 - http(s) URLs only, checked on creation
        subscription.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Loyalty-Event-Id": str(event.event_id),
            "Loyalty-Event-Type": event.type,
            "Loyalty-Signature": (
                f"t={timestamp},v1={webhook_signature(subscription.secret, timestamp, body)}"
            ),
        },
    )
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))[:500]


def webhook_delivery_attempt(delivery_id: int, now=None) -> str | None:
    """Send one due delivery. Returns its new state, or None if it was not due (not
    pending, not yet time, or leased by another worker)."""
    now = now or timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, state=WebhookDeliveryState.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + LEASE, attempts=F("attempts") + 1)
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("event", "subscription").get(pk=delivery_id)
    subscription = delivery.subscription
    started = time.monotonic()
    if subscription.is_active:
        status, error = _send(subscription, delivery.event)
    else:
        status, error = None, "subscription inactive"
    finished = timezone.now()
    ok = status is not None and 200 <= status < 300
    delivery.log = [
        *delivery.log,
        {
            "at": finished.isoformat(),
            "status": status,
            "error": error,
            "ms": int((time.monotonic() - started) * 1000),
        },
    ][-LOG_LENGTH:]
    delivery.response_status, delivery.last_error = status, error
    if ok:
        delivery.state, delivery.delivered_at = WebhookDeliveryState.DELIVERED, finished
    elif delivery.attempts >= MAX_ATTEMPTS or not subscription.is_active:
        delivery.state = WebhookDeliveryState.FAILED
    else:
        delivery.next_attempt_at = now + _retry_delay(delivery.attempts)
    delivery.save(
        update_fields=[
            "log",
            "response_status",
            "last_error",
            "state",
            "delivered_at",
            "next_attempt_at",
        ]
    )
    logger.info(
        "webhook %s %s to %s: attempt %d, %s",
        delivery.event.type,
        delivery.event.event_id,
        subscription.url,
        delivery.attempts,
        "delivered" if ok else (error or f"HTTP {status}"),
    )
    return delivery.state


def webhook_delivery_fail(*, delivery_id: int, reason: str) -> str:
    """Give up a delivery whose attempt fails before an outcome is recorded (a broken
    row), so that it is not leased and tried again forever; staff may replay it."""
    WebhookDelivery.objects.filter(pk=delivery_id).update(
        state=WebhookDeliveryState.FAILED, last_error=reason[:500]
    )
    return WebhookDeliveryState.FAILED


def webhook_deliveries_due(now=None, limit: int = 5000) -> list[int]:
    now = now or timezone.now()
    return list(
        WebhookDelivery.objects.filter(state=WebhookDeliveryState.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


@transaction.atomic
def webhook_delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Staff send a delivery again (after a fix on the receiver's side), whatever its state."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=WebhookDeliveryState.PENDING, next_attempt_at=timezone.now()
    )
    _enqueue([delivery.pk])
    delivery.refresh_from_db()
    return delivery
