"""Recording a purchase: the same order id earns once; invalid input is refused with a named
error before anything is stored."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from programs.errors import (
    CurrencyMismatch,
    IdempotencyConflict,
    InvalidAmount,
    MembershipInactive,
    PartnerInactive,
    ProgramMismatch,
)
from programs.models import LedgerEntry, MembershipStatus, Purchase, PurchaseStatus
from programs.services.memberships import membership_enroll
from programs.services.purchases import LineData, purchase_record, purchases_award
from tests.factories import CustomerFactory, PartnerFactory
from tests.programs.bookkeeping import assert_books_balance


def record(partner, membership, amount, **kwargs):
    kwargs.setdefault("order_id", "A-1")
    kwargs.setdefault("currency", "EUR")
    kwargs.setdefault("occurred_at", timezone.now() - timedelta(minutes=5))
    kwargs.setdefault("award_now", True)
    return purchase_record(partner=partner, membership=membership, amount=Decimal(amount), **kwargs)


def test_same_order_twice_returns_the_first_purchase_and_earns_once(partner, membership):
    first, created = record(partner, membership, "42.50")
    again, created_again = record(partner, membership, "42.50")
    # the same amount written differently is the same request
    third, created_third = record(partner, membership, "42.5")
    assert (created, created_again, created_third) == (True, False, False)
    assert again.pk == first.pk == third.pk
    membership.refresh_from_db()
    assert membership.balance == 42  # 42.50 -> 42, once
    assert LedgerEntry.objects.filter(membership=membership).count() == 1
    assert Purchase.objects.filter(partner=partner, order_id="A-1").count() == 1
    assert_books_balance(membership)


def test_same_order_id_with_other_data_is_a_conflict(partner, membership, program):
    record(partner, membership, "42.50")
    with pytest.raises(IdempotencyConflict):
        record(partner, membership, "42.51")
    other, _ = membership_enroll(customer=CustomerFactory(), program=program)
    with pytest.raises(IdempotencyConflict):
        record(partner, other, "42.50")
    membership.refresh_from_db()
    assert membership.balance == 42
    assert Purchase.objects.count() == 1


def test_same_order_id_at_another_partner_is_another_purchase(partner, membership, program):
    record(partner, membership, "10.00")
    other_partner = PartnerFactory(programs=[program])
    _, created = record(other_partner, membership, "10.00")
    assert created
    membership.refresh_from_db()
    assert membership.balance == 20


@pytest.mark.parametrize("amount", ["10.005", "0.001", "0", "-5.00"])
def test_invalid_amount_is_refused(partner, membership, amount):
    with pytest.raises(InvalidAmount):
        record(partner, membership, amount)
    assert not Purchase.objects.exists()


def test_trailing_zero_decimals_are_not_extra_precision(partner, membership):
    purchase, _ = record(partner, membership, "10.500")
    assert purchase.amount == Decimal("10.50")
    assert purchase.points_awarded == 10


def test_lines_must_add_up_to_the_amount(partner, membership):
    lines = [
        LineData(sku="A", category="", quantity=2, unit_price=Decimal("4.99")),  # 9.98
        LineData(sku="B", category="", quantity=1, unit_price=Decimal("5.00")),
    ]
    with pytest.raises(InvalidAmount) as excinfo:
        record(partner, membership, "15.00", lines=lines)  # 9.98 + 5.00 = 14.98
    assert excinfo.value.details == {"field": "lines"}
    assert "14.98" in str(excinfo.value)
    assert not Purchase.objects.exists()
    purchase, _ = record(partner, membership, "14.98", lines=lines)
    assert purchase.lines.count() == 2
    assert purchase.points_awarded == 14


def test_line_price_with_three_decimals_is_refused(partner, membership):
    lines = [LineData(sku="A", category="", quantity=2, unit_price=Decimal("2.505"))]
    with pytest.raises(InvalidAmount):
        record(partner, membership, "5.01", lines=lines)


def test_currency_must_be_the_programs(partner, membership):
    with pytest.raises(CurrencyMismatch):
        record(partner, membership, "10.00", currency="CHF")
    assert not Purchase.objects.exists()


def test_partner_outside_the_program_is_refused(membership):
    stranger = PartnerFactory()
    with pytest.raises(ProgramMismatch):
        record(stranger, membership, "10.00")
    assert not Purchase.objects.exists()


def test_deactivated_partner_cannot_record(partner, membership):
    partner.is_active = False
    partner.save(update_fields=["is_active"])
    with pytest.raises(PartnerInactive) as excinfo:
        record(partner, membership, "10.00")
    assert partner.name in str(excinfo.value)
    assert not Purchase.objects.exists()


def test_inactive_membership_cannot_record(partner, membership):
    membership.status = MembershipStatus.SUSPENDED
    membership.save(update_fields=["status"])
    with pytest.raises(MembershipInactive):
        record(partner, membership, "10.00")
    assert not Purchase.objects.exists()


def test_membership_suspended_before_the_award_gets_no_points(partner, membership):
    purchase, _ = record(partner, membership, "10.00", award_now=False)
    assert purchase.status == PurchaseStatus.RECEIVED
    membership.status = MembershipStatus.SUSPENDED
    membership.save(update_fields=["status"])
    assert purchases_award([purchase.pk]) == 1
    purchase.refresh_from_db()
    assert purchase.status == PurchaseStatus.REJECTED
    assert purchase.points_awarded == 0
    assert not LedgerEntry.objects.filter(membership=membership).exists()


def test_award_runs_once_even_when_called_twice(partner, membership):
    purchase, _ = record(partner, membership, "33.00", award_now=False)
    assert purchases_award([purchase.pk]) == 1
    assert purchases_award([purchase.pk]) == 0
    membership.refresh_from_db()
    assert membership.balance == 33
    assert LedgerEntry.objects.filter(membership=membership).count() == 1


def test_purchase_in_the_future_is_refused(partner, membership):
    with pytest.raises(InvalidAmount):
        record(partner, membership, "10.00", occurred_at=timezone.now() + timedelta(hours=1))
