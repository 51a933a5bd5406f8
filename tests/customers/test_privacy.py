"""Completing a deletion request in the admin: the person is forgotten, the ledger is not."""

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from customers.privacy import customer_anonymize
from programs.models import LedgerEntry, MembershipStatus
from programs.notifications.models import Notification, NotificationKind
from programs.notifications.services import notification_create
from programs.services.actions import points_adjust
from programs.services.memberships import membership_enroll
from tests.factories import CustomerFactory, ProgramFactory, StaffFactory, UserFactory


@pytest.fixture
def member(db):
    login = UserFactory(username="erika@example.com", email="erika@example.com")
    login.set_password("geheim-123")
    login.save()
    customer = CustomerFactory(
        email="erika@example.com", first_name="Erika", last_name="Muster", user=login
    )
    customer.deletion_requested_at = timezone.now()
    customer.save()
    membership, _ = membership_enroll(customer=customer, program=ProgramFactory())
    staff = StaffFactory()
    points_adjust(
        membership=membership, points=120, reason="welcome", user=staff, idempotency_key="k1"
    )
    notification_create(
        customer=customer,
        kind=NotificationKind.REWARD_REDEEMED,
        cause_key=f"test:{customer.pk}",
        params={"reward": "Kaffee", "voucher_code": "AB12-CD34"},
        membership=membership,
    )
    assert Notification.objects.filter(customer=customer).exists()
    return customer, membership, staff


def test_staff_complete_the_deletion_through_a_confirmation_page(client, member):
    customer, membership, staff = member
    client.force_login(staff)
    url = reverse("admin:customers_customer_anonymize", args=[customer.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert "die Löschung beantragt" in page.content.decode()

    refused = client.post(url, {})  # the confirmation box is required
    assert refused.status_code == 200
    customer.refresh_from_db()
    assert customer.email == "erika@example.com"
    assert customer.anonymized_at is None

    done = client.post(url, {"confirm": "on"})
    assert done.status_code == 302
    customer.refresh_from_db()
    assert customer.anonymized_at is not None
    assert (customer.email, customer.first_name, customer.last_name) == ("", "", "")
    login = get_user_model().objects.get(pk=customer.user_id)
    assert login.username == f"deleted-customer-{customer.pk}"
    assert not login.is_active
    assert not login.has_usable_password()
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.CLOSED
    assert not Notification.objects.filter(customer=customer).exists()
    # the books still add up: nothing was removed from the ledger
    total = LedgerEntry.objects.filter(membership=membership).aggregate(s=Sum("points"))["s"]
    assert total == 120 == membership.balance


def test_the_old_login_no_longer_works(client, member):
    customer, _membership, staff = member
    customer_anonymize(customer=customer, user=staff)
    response = client.post(
        "/portal/login/", {"username": "erika@example.com", "password": "geheim-123"}
    )
    assert response.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session


def test_a_second_run_changes_nothing(member):
    customer, _membership, staff = member
    first = customer_anonymize(customer=customer, user=staff)
    second = customer_anonymize(customer=Customer.objects.get(pk=customer.pk), user=staff)
    assert second.anonymized_at == first.anonymized_at
