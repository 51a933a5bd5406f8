"""One purchase whose award fails does not stop its batch: the others are awarded, the bad
one is parked as ``failed`` with its reason (the partner reads it and gets a
``purchase.failed`` webhook; staff see it in the admin and put it back with "retry"), and
the sweeper never takes it up again.

The poison is made in the database, as a broken row would be: the member's
``lifetime_earned`` sits at the column's maximum, so the award's update overflows it
(PostgreSQL refuses the write with "out of range") whatever bounds the API checks.
"""

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from programs.models import (
    EntryKind,
    ExpiryPolicy,
    LedgerEntry,
    Membership,
    PartnerCustomer,
    Purchase,
    PurchaseStatus,
    WebhookEvent,
)
from programs.services.due import ledger_drift, points_expire_due
from programs.services.memberships import membership_enroll
from programs.services.purchases import purchases_award
from programs.services.purchases_batch import PurchaseItem, purchases_record_many
from programs.services.webhooks import webhook_subscription_create
from programs.tasks import award_purchases_task, sweep_received_purchases_task
from tests.api.conftest import client_for
from tests.factories import CustomerFactory, StaffFactory

pytestmark = pytest.mark.django_db

MEMBERS = 100
BATCH = 1000


def column_max(table: str, column: str) -> int:
    """The largest value the column holds (it may become 64-bit)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT data_type FROM information_schema.columns "
            "WHERE table_name = %s AND column_name = %s",
            [table, column],
        )
        (data_type,) = cursor.fetchone()
    return {"integer": 2**31 - 1, "bigint": 2**63 - 1}[data_type]


def poison(membership: Membership) -> None:
    """Make any award to ``membership`` fail in the database."""
    Membership.objects.filter(pk=membership.pk).update(
        lifetime_earned=column_max("programs_membership", "lifetime_earned")
    )


def enroll(program, partner, external_id: str) -> Membership:
    membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
    PartnerCustomer.objects.create(
        partner=partner, customer=membership.customer, external_id=external_id
    )
    return membership


def receive(partner, items: list[PurchaseItem]) -> list[int]:
    """Record the purchases as the batch endpoint does; their award messages are lost (the
    test's transaction never commits), so only the sweeper finds them."""
    outcomes = purchases_record_many(partner=partner, items=items)
    assert all(o.error is None and o.created for o in outcomes)
    Purchase.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    return [o.purchase.pk for o in outcomes]


def item(membership, order_id: str, amount: str = "25.00") -> PurchaseItem:
    return PurchaseItem(
        membership=membership,
        order_id=order_id,
        amount=Decimal(amount),
        currency="EUR",
        occurred_at=timezone.now() - timedelta(minutes=10),
    )


@pytest.fixture
def backlog(program, partner, tiers):
    """1,000 received purchases: 999 of 99 healthy members, one of the poisoned member (in
    the middle of the ids, so it shares its batch with the others)."""
    members = [enroll(program, partner, f"m{n}") for n in range(MEMBERS - 1)]
    bad = enroll(program, partner, "bad")
    items = [item(members[n % len(members)], f"A{n}") for n in range(BATCH // 2)]
    items.append(item(bad, "POISON"))
    items += [item(members[n % len(members)], f"B{n}") for n in range(BATCH // 2 - 1)]
    ids = receive(partner, items)
    poison(bad)
    return ids, Purchase.objects.get(order_id="POISON")


def test_a_poison_purchase_is_parked_and_the_other_999_are_awarded(backlog, partner):
    ids, bad = backlog
    webhook_subscription_create(
        partner=partner, url="https://hooks.example.com/x", events=["purchase.failed"]
    )
    started = time.monotonic()

    assert sweep_received_purchases_task() == BATCH

    assert time.monotonic() - started < 60
    statuses = dict(Purchase.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert sum(s == PurchaseStatus.AWARDED for s in statuses.values()) == BATCH - 1
    bad.refresh_from_db()
    assert bad.status == PurchaseStatus.FAILED
    assert "out of range" in bad.failure_reason
    assert bad.processed_at is not None
    assert not LedgerEntry.objects.filter(purchase=bad).exists()
    assert LedgerEntry.objects.filter(kind=EntryKind.EARN).count() == BATCH - 1
    assert ledger_drift() == []
    event = WebhookEvent.objects.get(type="purchase.failed")
    assert event.partner_id == partner.pk
    assert event.payload["data"] == {
        "member": "bad",
        "program": bad.program.slug,
        "purchase_id": bad.pk,
        "order_id": "POISON",
        "reason": bad.failure_reason,
    }

    # the sweeper never takes it up again, nor does a stray copy of its award message
    parked_at = bad.processed_at
    assert sweep_received_purchases_task() == 0
    assert award_purchases_task([bad.pk]) == 0
    bad.refresh_from_db()
    assert (bad.status, bad.processed_at) == (PurchaseStatus.FAILED, parked_at)
    assert WebhookEvent.objects.filter(type="purchase.failed").count() == 1


def test_the_partner_reads_the_failure(backlog, partner):
    ids, bad = backlog
    purchases_award(ids)

    response = client_for(partner).get(f"/api/v1/purchases/{bad.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "failed"
    assert "out of range" in body["failure_reason"]
    assert body["points_awarded"] is None
    healthy = client_for(partner).get(f"/api/v1/purchases/{ids[0]}").json()
    assert (healthy["status"], healthy["failure_reason"]) == ("awarded", "")


def test_a_failed_purchase_cannot_be_returned_until_it_is_awarded(backlog, partner):
    """A return of a purchase whose points were never awarded would reverse nothing, and a
    later retry would then award the full points for goods given back."""
    ids, bad = backlog
    purchases_award(ids)

    response = client_for(partner).post(
        f"/api/v1/purchases/{bad.pk}/refunds", {"refund_id": "r-1", "amount": "5.00"}, format="json"
    )

    assert response.status_code == 409
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "purchase_failed"
    bad.refresh_from_db()
    assert (bad.status, bad.refunded_amount) == (PurchaseStatus.FAILED, Decimal(0))


def test_a_failure_outside_the_database_is_isolated_too(program, partner, tiers):
    """A row the calculator cannot handle (a date at the end of the calendar, set in the
    database) fails in Python, not in PostgreSQL: parked the same way."""
    members = [enroll(program, partner, f"m{n}") for n in range(3)]
    ids = receive(partner, [item(members[n % 3], f"A{n}") for n in range(30)])
    broken = ids[17]
    Purchase.objects.filter(pk=broken).update(occurred_at=datetime(9999, 12, 31, tzinfo=UTC))

    assert purchases_award(ids) == 30

    assert Purchase.objects.filter(status=PurchaseStatus.AWARDED).count() == 29
    failed = Purchase.objects.get(status=PurchaseStatus.FAILED)
    assert failed.pk == broken
    assert failed.failure_reason


def test_staff_retry_a_failed_purchase_once_its_cause_is_fixed(
    backlog, client, django_capture_on_commit_callbacks
):
    ids, bad = backlog
    purchases_award(ids)
    client.force_login(StaffFactory())
    changelist = reverse("admin:programs_purchase_changelist")

    page = client.get(changelist, {"status__exact": "failed"})
    assert page.status_code == 200
    assert "POISON" in page.text
    assert "out of range" in page.text
    detail = client.get(reverse("admin:programs_purchase_change", args=[bad.pk]))
    assert "out of range" in detail.text

    Membership.objects.filter(pk=bad.membership_id).update(lifetime_earned=0)  # the fix
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(
            changelist, {"action": "retry_awards", "_selected_action": [bad.pk, ids[0]]}
        )

    assert response.status_code == 302
    awards = [c for c in callbacks if c.__qualname__ == f"{award_purchases_task.name}.delay"]
    assert len(awards) == 1
    bad.refresh_from_db()
    assert bad.status == PurchaseStatus.AWARDED
    assert bad.failure_reason == ""
    assert bad.points_awarded == 25
    assert Purchase.objects.get(pk=ids[0]).status == PurchaseStatus.AWARDED  # not touched


def test_one_failing_member_does_not_stop_the_expiry_of_the_others(program, partner, tiers):
    program.expiry_policy, program.expiry_months = ExpiryPolicy.FIXED_PERIOD, 12
    program.save()
    members = [enroll(program, partner, f"m{n}") for n in range(5)]
    ids = receive(partner, [item(m, f"A{n}", "100.00") for n, m in enumerate(members)])
    purchases_award(ids)
    broken = members[2]  # a broken cache: expiring its lot overflows the debt
    Membership.objects.filter(pk=broken.pk).update(
        balance=0, debt=column_max("programs_membership", "debt")
    )

    expired = points_expire_due(now=timezone.now() + timedelta(days=2 * 365))

    assert expired == 4 * 100
    for membership in members:
        membership.refresh_from_db()
        entries = LedgerEntry.objects.filter(membership=membership, kind=EntryKind.EXPIRE)
        if membership.pk == broken.pk:
            assert not entries.exists()
            assert membership.debt == column_max("programs_membership", "debt")
        else:
            assert [e.points for e in entries] == [-100]
            assert membership.balance == 0
