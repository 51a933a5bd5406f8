"""Webhook events: written to the outbox with the change that caused them, one event per
partner as that partner may see it, one delivery per subscription; the deliveries are
enqueued after the commit (``programs.services.webhooks`` sends them).

``webhook_events_emit`` is called (through ``events.event_record``) *inside* a service's
transaction: the event rows commit or roll back with the change.
"""

import json
import uuid
from collections.abc import Sequence

from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from loyalty_site.core.commit import enqueue_after_commit
from programs.models import (
    LedgerEntry,
    Membership,
    PartnerCustomer,
    Program,
    Referral,
    TierChange,
    WebhookDelivery,
    WebhookEvent,
    WebhookEventType,
    WebhookSubscription,
)

DELIVER_TASK = "programs.api.tasks.deliver_webhooks_task"
DELIVERY_CHUNK = 20  # deliveries per task: x 10 s timeout stays inside the task time limits

INSERT_ROWS = 2000  # rows per INSERT: PostgreSQL takes at most 65,535 parameters a statement

# Events only the partner that caused them receives (named by ``partner_id`` in the data).
OWN_PARTNER_ONLY = {
    WebhookEventType.PURCHASE_FAILED,
    WebhookEventType.HOLD_CAPTURED,
    WebhookEventType.HOLD_VOIDED,
}


def _partner_views(
    type: str, data: dict, partner_ids: set[int], loaded: dict[str, dict]
) -> dict[int, dict]:
    """The event's ``data`` as each partner may see it, as the API would show it: a purchase
    (id, order id, reason) only to the partner that posted it, the referred friend by the
    partner's own external id, tiers with their rank, whether a voucher was used by this
    partner (``used_by_you``). ``loaded``: the ledger entries (with their purchases) and
    tier changes (with their tiers) of all events, by id."""
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
    elif type in OWN_PARTNER_ONLY:
        for view in views.values():
            view.pop("partner_id", None)  # it chose the audience (``_audience``)
    elif type == WebhookEventType.VOUCHER_USED:
        for partner_id, view in views.items():  # which partner, only to that partner
            view["used_by_you"] = view.pop("partner_id", None) == partner_id
    elif type == WebhookEventType.TIER_CHANGED and data.get("change_id"):
        change = loaded["changes"].get(data["change_id"])
        if change:
            for view in views.values():
                view["from_rank"] = change.from_tier.rank if change.from_tier else None
                view["to_rank"] = change.to_tier.rank if change.to_tier else None
    return views


def _audience(type: str, data: dict, subscriptions: list) -> list:
    """The subscriptions an event goes to: a failed purchase or a hold only to its own
    partner."""
    if type in OWN_PARTNER_ONLY:
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
    webhook_deliveries_enqueue([d.pk for d in deliveries])
    return deliveries


def partner_event_emit(*, partner, type: str, data: dict, at=None) -> list[WebhookDelivery]:
    """Write an event about the partner itself (not a member: ``api_key.expiring``) for
    each of its active subscriptions to ``type``. Call inside the transaction."""
    at = at or timezone.now()
    subscriptions = [
        s.pk
        for s in WebhookSubscription.objects.filter(partner=partner, is_active=True)
        if type in s.events
    ]
    if not subscriptions or not partner.is_active:
        return []
    event_id = uuid.uuid4()
    payload = {"id": str(event_id), "type": type, "created_at": at.isoformat(), "data": data}
    event = WebhookEvent.objects.create(
        event_id=event_id,
        partner=partner,
        type=type,
        payload=json.loads(json.dumps(payload, cls=DjangoJSONEncoder)),
    )
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(event=event, subscription_id=pk, next_attempt_at=timezone.now())
            for pk in subscriptions
        ]
    )
    webhook_deliveries_enqueue([d.pk for d in deliveries])
    return deliveries


def webhook_deliveries_enqueue(delivery_ids: Sequence[int]) -> None:
    """Enqueue the deliveries after the commit, ``tasks.CHUNK`` a task; a broker outage
    must not fail the change (the sweeper sends them later). By name: the tasks module
    imports the services."""
    ids = list(delivery_ids)
    for start in range(0, len(ids), DELIVERY_CHUNK):
        enqueue_after_commit(DELIVER_TASK, ids[start : start + DELIVERY_CHUNK])
