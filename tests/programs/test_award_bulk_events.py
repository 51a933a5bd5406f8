"""The bulk award path records its ``points.awarded`` events in one go, with the outcome of
recording them one by one: the same webhook events and deliveries for the same partners
(a partner sees its own order, another partner of the member only the points), the
tier-progress check for every member, in a number of queries that does not grow."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from programs import tasks as programs_tasks
from programs.api import tasks as api_tasks
from programs.models import (
    LedgerEntry,
    Membership,
    PartnerCustomer,
    PointLot,
    WebhookDelivery,
    WebhookEvent,
    WebhookEventType,
)
from programs.notifications import tasks as customer_tasks
from programs.services import events, webhook_events
from programs.services.events import event_record, events_record
from programs.services.memberships import membership_enroll
from programs.services.purchases import purchase_record, purchases_award
from programs.services.webhooks import webhook_events_emit, webhook_subscription_create
from tests.factories import CustomerFactory, PartnerFactory

AWARDED = WebhookEventType.POINTS_AWARDED


@pytest.fixture
def partners(program):
    """A and B subscribed (A twice), C linked but subscribed to tier changes only,
    D subscribed but never linked, E subscribed but inactive."""
    a, b, c, d = (PartnerFactory(programs=[program]) for _ in range(4))
    e = PartnerFactory(programs=[program], is_active=False)
    webhook_subscription_create(partner=a, url="https://a.example/hook", events=[AWARDED])
    webhook_subscription_create(partner=a, url="https://a.example/all", events=["tier.changed"])
    webhook_subscription_create(
        partner=a, url="https://a.example/more", events=[AWARDED, "tier.changed"]
    )
    webhook_subscription_create(partner=b, url="https://b.example/hook", events=[AWARDED])
    webhook_subscription_create(partner=c, url="https://c.example/hook", events=["tier.changed"])
    webhook_subscription_create(partner=d, url="https://d.example/hook", events=[AWARDED])
    webhook_subscription_create(partner=e, url="https://e.example/hook", events=[AWARDED])
    off = webhook_subscription_create(partner=b, url="https://b.example/off", events=[AWARDED])
    off.is_active = False
    off.save()
    return a, b, c, d, e


def member(program, *links):
    membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
    for partner in links:
        PartnerCustomer.objects.create(
            partner=partner,
            customer=membership.customer,
            external_id=f"{partner.slug}-{membership.pk}",
        )
    return membership


def receive(membership, partner, amount, order_id):
    purchase, _ = purchase_record(
        partner=partner,
        membership=membership,
        order_id=order_id,
        amount=Decimal(amount),
        currency="EUR",
        occurred_at=timezone.now() - timedelta(minutes=5),
        lines=[],
    )
    return purchase.pk


def outbox() -> list[tuple]:
    """The webhook events with their deliveries, in the order written, ids left out."""
    rows = []
    for event in WebhookEvent.objects.order_by("pk"):
        payload = {k: v for k, v in event.payload.items() if k not in ("id", "created_at")}
        subscriptions = list(
            WebhookDelivery.objects.filter(event=event)
            .order_by("pk")
            .values_list("subscription__url", "state", "attempts")
        )
        rows.append((event.partner_id, event.type, payload, subscriptions))
        assert event.payload["id"] == str(event.event_id)
    return rows


def awarded_items(purchase_ids) -> list[tuple]:
    """(membership, data) of each purchase's points.awarded, as the award path builds it."""
    items = []
    for entry in (
        LedgerEntry.objects.filter(purchase__in=purchase_ids)
        .select_related("membership__program", "purchase")
        .order_by("pk")
    ):
        lot = PointLot.objects.get(earn_entry=entry)
        data = {
            "entry_id": entry.pk,
            "points": lot.points,
            "pending": entry.pending_points > 0,
            "available_at": lot.available_at,
            "source": entry.source,
            "reason": f"order {entry.purchase.order_id}",
        }
        items.append((entry.membership, data))
    return items


@pytest.mark.django_db
def test_the_batch_writes_the_events_and_deliveries_of_recording_one_by_one(program, partners):
    a, b, c, _d, _e = partners
    both = member(program, a, b, c)  # two subscribed partners and one that is not
    only_b = member(program, b)
    nobody = member(program)
    ids = [
        receive(both, a, "40.00", "A-1"),
        receive(only_b, b, "25.00", "B-1"),
        receive(both, b, "10.00", "B-2"),
        receive(nobody, a, "30.00", "A-2"),
        receive(both, a, "12.00", "A-3"),
    ]

    assert purchases_award(ids) == 5
    batch = outbox()
    WebhookEvent.objects.all().delete()
    for membership, data in awarded_items(ids):
        event_record(type=events.POINTS_AWARDED, membership=membership, data=data)
    one_by_one = outbox()

    assert batch == one_by_one
    # what the partners see: A and B each get every event of the shared member, the order
    # number only for their own purchase; C (not subscribed), D (not linked) get nothing
    seen = [(partner, p["data"]["reason"], p["data"]["order_id"]) for partner, _t, p, _s in batch]
    assert seen == [
        (a.pk, "order A-1", "A-1"),
        (b.pk, "", None),
        (b.pk, "order B-1", "B-1"),
        (a.pk, "", None),
        (b.pk, "order B-2", "B-2"),
        (a.pk, "order A-3", "A-3"),
        (b.pk, "", None),
    ]
    a_deliveries = [s for partner, _t, _p, s in batch if partner == a.pk]
    assert all(
        urls == [("https://a.example/hook", "pending", 0), ("https://a.example/more", "pending", 0)]
        for urls in a_deliveries
    )
    assert batch[1][2]["data"]["member"] == f"{b.slug}-{both.pk}"
    assert batch[1][2]["data"]["program"] == program.slug
    assert {partner for partner, *_ in batch} == {a.pk, b.pk}


@pytest.mark.django_db(transaction=True)
def test_deliveries_and_tier_checks_are_enqueued_after_the_commit(program, partners, monkeypatch):
    a, b, *_ = partners
    monkeypatch.setattr(programs_tasks.award_purchases_task, "delay", lambda ids: None)
    memberships = [member(program, a, b) for _ in range(3)]
    ids = [receive(m, a, "20.00", f"A-{n}") for n, m in enumerate(memberships)]
    enqueued, checks = [], []
    monkeypatch.setattr(api_tasks.deliver_webhooks_task, "delay", enqueued.append)
    monkeypatch.setattr(customer_tasks.check_tier_progress_task, "delay", checks.append)
    monkeypatch.setattr(webhook_events, "DELIVERY_CHUNK", 4)

    with transaction.atomic():
        purchases_award(ids)
        assert (enqueued, checks) == ([], [])  # nothing leaves before the commit

    deliveries = list(WebhookDelivery.objects.order_by("pk").values_list("pk", flat=True))
    assert len(deliveries) == 9  # 3 purchases x (A twice + B)
    assert [pk for chunk in enqueued for pk in chunk] == deliveries
    assert max(len(chunk) for chunk in enqueued) <= 4
    assert checks == [sorted(m.pk for m in memberships)]


@pytest.mark.django_db
def test_a_rolled_back_batch_leaves_no_events(program, partners):
    a, b, *_ = partners
    membership = member(program, a, b)
    ids = [receive(membership, a, "20.00", "A-1")]

    with transaction.atomic():
        purchases_award(ids)
        assert WebhookEvent.objects.count() == 2  # A and B
        transaction.set_rollback(True)

    assert not WebhookEvent.objects.exists()
    assert not WebhookDelivery.objects.exists()


def _emit_counting(items) -> tuple[int, int]:
    """Queries of emitting ``items``: (reads, inserts)."""
    with CaptureQueriesContext(connection) as captured:
        webhook_events_emit([(AWARDED, m, data) for m, data in items])
    inserts = sum(q["sql"].startswith("INSERT") for q in captured.captured_queries)
    return len(captured) - inserts, inserts


@pytest.mark.django_db
def test_queries_do_not_grow_with_the_number_of_events(program, partners):
    a, b, c, *_ = partners
    memberships = [member(program, a, b, c) for _ in range(105)]
    ids = [receive(m, a if n % 2 else b, "10.00", f"O-{n}") for n, m in enumerate(memberships)]
    purchases_award(ids)
    WebhookEvent.objects.all().delete()
    items = awarded_items(ids)

    small = _emit_counting(items[:5])
    large = _emit_counting(items[5:])

    assert WebhookDelivery.objects.count() == 105 * 3  # 2 events, 3 deliveries per item
    assert small == (2, 2)  # subscriptions, ledger entries; events, deliveries
    WebhookEvent.objects.all().delete()
    plain = Membership.objects.in_bulk([m.pk for m, _data in items])  # program not loaded
    assert _emit_counting([(plain[m.pk], data) for m, data in items[:5]]) == (3, 2)  # + slugs
    assert large == small


@pytest.mark.django_db
def test_other_event_types_fall_back_to_recording_one_by_one(program, partners, tiers):
    a, *_ = partners
    membership = member(program, a)
    items = [
        (
            membership,
            {
                "change_id": None,
                "from_tier": None,
                "to_tier": "Silber",
                "direction": "up",
                "reason": "enrolled",
            },
        )
    ]

    events_record([(events.TIER_CHANGED, m, data) for m, data in items])

    [event] = WebhookEvent.objects.all()
    assert (event.type, event.partner_id) == ("tier.changed", a.pk)
    assert WebhookDelivery.objects.filter(event=event).count() == 2  # /all and /more


def _award_counting(ids) -> tuple[int, int]:
    """Queries of awarding ``ids`` in one batch: (reads and updates, inserts)."""
    with CaptureQueriesContext(connection) as captured:
        assert purchases_award(ids) == len(ids)
    inserts = sum(q["sql"].startswith("INSERT") for q in captured.captured_queries)
    return len(captured) - inserts, inserts


@pytest.mark.django_db
def test_a_batch_with_its_webhooks_costs_the_same_queries_whatever_its_size(
    program, tiers, partners
):
    a, b, *_ = partners
    memberships = [member(program, a, b) for _ in range(60)]
    small = [receive(m, a, "12.00", f"S-{n}") for n, m in enumerate(memberships[:5])]
    large = [receive(m, b, "12.00", f"L-{n}") for n, m in enumerate(memberships[5:])]
    large += [receive(m, a, "9.00", f"M-{n}") for n, m in enumerate(memberships[5:])]

    few, many = _award_counting(small), _award_counting(large)

    assert WebhookEvent.objects.count() == 2 * (5 + 110)
    assert many == few
