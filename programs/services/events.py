"""Domain events: the one place a service says "something a member or partner cares about
happened".

A service calls ``event_record`` *inside* the transaction of the change. The outbox rows it
writes (partner webhooks, see ``programs.services.webhooks``) and the member's notification
(``customers.notifications.services``: tier changes, rewards, referral rewards; earned
points only trigger the "next tier within reach" check) commit or roll back with the
change, and anything sent outside the database is enqueued only after the commit.
"""

from collections.abc import Sequence
from datetime import datetime

from customers.notifications.services import notifications_for_event, notifications_for_events
from programs.models import Membership, WebhookEventType
from programs.services.webhooks import webhook_event_emit, webhook_events_emit_many

POINTS_AWARDED = WebhookEventType.POINTS_AWARDED.value
TIER_CHANGED = WebhookEventType.TIER_CHANGED.value
REWARD_REDEEMED = WebhookEventType.REWARD_REDEEMED.value
REFERRAL_REWARDED = WebhookEventType.REFERRAL_REWARDED.value
SURVEY_RESPONDED = WebhookEventType.SURVEY_RESPONDED.value


def event_record(
    *, type: str, membership: Membership, data: dict, at: datetime | None = None
) -> None:
    """Record one event of ``type`` for ``membership`` with its public ``data``."""
    if type in WebhookEventType.values:
        webhook_event_emit(type=type, membership=membership, data=data, at=at)
    notifications_for_event(type=type, membership=membership, data=data, at=at)


def events_record_many(
    *, type: str, items: Sequence[tuple[Membership, dict]], at: datetime | None = None
) -> None:
    """``event_record`` of ``type`` for each ``(membership, data)`` in order, with the same
    outcome, in a number of queries that does not grow with the items (for
    ``points.awarded``, the bulk award path's event)."""
    if not items:
        return
    if type in WebhookEventType.values:
        webhook_events_emit_many(type=type, items=items, at=at)
    notifications_for_events(type=type, items=items, at=at)
