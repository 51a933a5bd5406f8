"""Domain events: the one place a service says "something a member or partner cares about
happened".

A service calls ``event_record`` *inside* the transaction of the change. The outbox rows it
writes (partner webhooks, see ``programs.services.webhooks``) and the member's notification
(``programs.notifications.services``: tier changes, rewards, referral rewards; earned
points only trigger the "next tier within reach" check) commit or roll back with the
change, and anything sent outside the database is enqueued only after the commit.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

from programs.models import Membership, WebhookEventType
from programs.notifications.services import notifications_for_events
from programs.services.webhooks import webhook_events_emit

POINTS_AWARDED = WebhookEventType.POINTS_AWARDED.value
TIER_CHANGED = WebhookEventType.TIER_CHANGED.value
REWARD_REDEEMED = WebhookEventType.REWARD_REDEEMED.value
REFERRAL_REWARDED = WebhookEventType.REFERRAL_REWARDED.value
SURVEY_RESPONDED = WebhookEventType.SURVEY_RESPONDED.value
PURCHASE_FAILED = WebhookEventType.PURCHASE_FAILED.value
HOLD_CAPTURED = WebhookEventType.HOLD_CAPTURED.value
HOLD_VOIDED = WebhookEventType.HOLD_VOIDED.value
VOUCHER_USED = WebhookEventType.VOUCHER_USED.value
POINTS_TRANSFERRED = WebhookEventType.POINTS_TRANSFERRED.value
WEBHOOK_TYPES = frozenset(WebhookEventType.values)
_muted: ContextVar[bool] = ContextVar("events_muted", default=False)


@contextmanager
def events_muted(muted: bool = True) -> Iterator[None]:
    """Changes made inside tell nobody: no webhooks, no notifications (an import that
    staff did not ask to announce). Everything else is written as always."""
    token = _muted.set(muted)
    try:
        yield
    finally:
        _muted.reset(token)


def events_are_muted() -> bool:
    return _muted.get()


def event_record(
    *, type: str, membership: Membership, data: dict, at: datetime | None = None
) -> None:
    """Record one event of ``type`` for ``membership`` with its public ``data``."""
    events_record([(type, membership, data)], at=at)


def events_record(
    items: Sequence[tuple[str, Membership, dict]], at: datetime | None = None
) -> None:
    """``event_record`` for each ``(type, membership, data)`` in order, with the same
    outcome, in a number of queries that does not grow with the items (the bulk award
    path's ``points.awarded`` and ``tier.changed`` events of a whole batch). Partners
    receive each member's events in the order given."""
    if not items or _muted.get():
        return
    webhook_events_emit([item for item in items if item[0] in WEBHOOK_TYPES], at=at)
    by_type: dict[str, list[tuple[Membership, dict]]] = {}
    for type, membership, data in items:
        by_type.setdefault(type, []).append((membership, data))
    for type, pairs in by_type.items():
        notifications_for_events(type=type, items=pairs, at=at)
