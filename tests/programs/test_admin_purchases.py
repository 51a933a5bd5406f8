"""Purchases entered in the admin earn points through purchase_record and the award task;
returns go through purchase_refund."""

from decimal import Decimal

import pytest
from django.contrib.messages import ERROR, WARNING, get_messages
from django.urls import reverse
from django.utils import timezone

from programs.models import EarnRule, Purchase, PurchaseStatus, Refund
from programs.services.due import ledger_drift
from programs.tasks import award_purchases_task
from tests.factories import PartnerFactory, ProgramFactory, StaffFactory

ADD_URL = "admin:programs_purchase_add"


@pytest.fixture
def staff_client(client, db):
    client.force_login(StaffFactory())
    return client


@pytest.fixture
def entry(membership, partner):
    """What staff type into the add form."""
    now = timezone.localtime().replace(microsecond=0)
    return {
        "membership": membership.pk,
        "partner": partner.pk,
        "order_id": "KASSE-4711",
        "amount": "30.00",
        "currency": "EUR",
        "occurred_at_0": now.date().isoformat(),
        "occurred_at_1": now.time().isoformat(),
        "lines": "",
    }


def levels(response):
    return [m.level for m in get_messages(response.wsgi_request)]


def test_add_form_records_and_the_worker_awards(
    staff_client, entry, membership, program, django_capture_on_commit_callbacks
):
    EarnRule.objects.create(program=program, name="Drinks", category="drinks", multiplier=2)
    entry["lines"] = "A1;drinks;2;5,00\n\nB2;food;1;20.00\n"

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = staff_client.post(reverse(ADD_URL), entry)

    # the award task, enqueued after commit (other callbacks, e.g. notifications, may follow)
    awards = [c for c in callbacks if c.__qualname__ == f"{award_purchases_task.name}.delay"]
    assert len(awards) == 1
    purchase = Purchase.objects.get(order_id="KASSE-4711")
    assert response["Location"] == reverse("admin:programs_purchase_change", args=[purchase.pk])
    assert purchase.status == PurchaseStatus.AWARDED
    assert purchase.points_awarded == 40  # drinks 10 EUR x2, food 20 EUR
    assert [(li.sku, li.quantity, li.unit_price) for li in purchase.lines.all()] == [
        ("A1", 2, Decimal("5.00")),
        ("B2", 1, Decimal("20.00")),
    ]
    membership.refresh_from_db()
    assert membership.balance == 40
    assert ledger_drift() == []


def test_points_wait_for_commit(staff_client, entry, membership):
    staff_client.post(reverse(ADD_URL), entry)  # the test's transaction never commits
    purchase = Purchase.objects.get(order_id="KASSE-4711")
    assert purchase.status == PurchaseStatus.RECEIVED
    membership.refresh_from_db()
    assert membership.balance == 0


def test_same_order_twice_is_recorded_once(
    staff_client, entry, membership, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(reverse(ADD_URL), entry)
        second = staff_client.post(reverse(ADD_URL), entry)
    assert WARNING in levels(second)
    assert Purchase.objects.count() == 1
    membership.refresh_from_db()
    assert membership.balance == 30


def test_bad_lines_are_reported_by_row(staff_client, entry):
    entry["lines"] = "A1;drinks;2;5.00\nA2;drinks;zwei;5.00\n;;1;1\nA4;drinks;1\nA5;food;1;abc"
    response = staff_client.post(reverse(ADD_URL), entry)

    assert response.status_code == 200
    errors = response.context["form"].errors["lines"]
    assert [e.split(":")[0] for e in errors] == ["Zeile 2", "Zeile 3", "Zeile 4", "Zeile 5"]
    assert "zwei" in errors[0]
    assert not Purchase.objects.exists()


def test_lines_that_do_not_add_up_are_a_form_error(staff_client, entry):
    entry["lines"] = "A1;drinks;1;5.00"
    response = staff_client.post(reverse(ADD_URL), entry)
    assert response.status_code == 200
    assert "add up to 5.00" in response.context["form"].errors["lines"][0]
    assert not Purchase.objects.exists()


def test_partner_outside_the_program_is_a_form_error_not_a_500(staff_client, entry):
    entry["partner"] = PartnerFactory(programs=[ProgramFactory()]).pk
    response = staff_client.post(reverse(ADD_URL), entry)
    assert response.status_code == 200
    assert "partner" in response.context["form"].errors
    assert not Purchase.objects.exists()


def test_wrong_currency_is_a_form_error(staff_client, entry):
    entry["currency"] = "CHF"
    response = staff_client.post(reverse(ADD_URL), entry)
    assert "currency" in response.context["form"].errors


def refund_url(purchase):
    return reverse("admin:programs_purchase_refund", args=[purchase.pk])


@pytest.fixture
def purchase(membership, buy):
    return buy(
        membership,
        "30.00",
        lines=[
            {"sku": "A1", "category": "drinks", "quantity": 2, "unit_price": Decimal("5.00")},
            {"sku": "B2", "category": "food", "quantity": 1, "unit_price": Decimal("20.00")},
        ],
    )


def test_refund_by_line_reverses_points(staff_client, purchase, membership):
    page = staff_client.get(refund_url(purchase))
    refund_id = page.context["form"]["refund_id"].value()

    response = staff_client.post(refund_url(purchase), {"refund_id": refund_id, "lines": "2;1"})
    again = staff_client.post(refund_url(purchase), {"refund_id": refund_id, "lines": "2;1"})

    assert response.status_code == again.status_code == 302
    assert WARNING in levels(again)
    refund = Refund.objects.get(purchase=purchase)
    assert (refund.amount, refund.points_reversed) == (Decimal("20.00"), 20)
    membership.refresh_from_db()
    assert membership.balance == 10
    change = staff_client.get(reverse("admin:programs_purchase_change", args=[purchase.pk]))
    assert refund_id in change.content.decode()
    assert ledger_drift() == []


def test_refund_by_amount(staff_client, purchase, membership):
    staff_client.post(refund_url(purchase), {"refund_id": "R-9", "amount": "15.00"})
    membership.refresh_from_db()
    assert membership.balance == 15


def test_refund_over_the_paid_amount_is_a_form_error(staff_client, purchase, membership):
    response = staff_client.post(refund_url(purchase), {"refund_id": "R-1", "amount": "30.01"})
    assert response.status_code == 200
    assert "amount" in response.context["form"].errors
    assert not Refund.objects.exists()
    membership.refresh_from_db()
    assert membership.balance == 30


def test_refund_needs_lines_or_amount(staff_client, purchase):
    response = staff_client.post(refund_url(purchase), {"refund_id": "R-1"})
    assert response.context["form"].non_field_errors()
    response = staff_client.post(refund_url(purchase), {"refund_id": "R-1", "lines": "9;1"})
    assert "lines" in response.context["form"].errors
    assert not Refund.objects.exists()


def test_fully_refunded_purchase_offers_no_refund(staff_client, purchase):
    staff_client.post(refund_url(purchase), {"refund_id": "R-1", "amount": "30.00"})
    change = staff_client.get(reverse("admin:programs_purchase_change", args=[purchase.pk]))
    assert change.context["object_tools"] == []
    assert ERROR not in levels(change)


def test_purchases_cannot_be_edited_or_deleted(staff_client, purchase):
    change_url = reverse("admin:programs_purchase_change", args=[purchase.pk])
    assert staff_client.post(change_url, {"amount": "1.00"}).status_code == 403
    delete_url = reverse("admin:programs_purchase_delete", args=[purchase.pk])
    assert staff_client.post(delete_url, {"post": "yes"}).status_code == 403
    purchase.refresh_from_db()
    assert purchase.amount == Decimal("30.00")
