"""The retention report in the admin ("Aufbewahrung"): who the job anonymises next month."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from programs.services.retention import years_before
from tests.factories import CustomerFactory, StaffFactory, UserFactory

URL = "admin:customers_customer_retention"


@pytest.fixture
def customers(db, settings):
    settings.RETENTION_INACTIVE_YEARS = 3
    cutoff = years_before(timezone.now(), 3)
    due = CustomerFactory(email="bald-weg@example.com")
    later = CustomerFactory(email="noch-nicht@example.com")
    Customer.objects.filter(pk=due.pk).update(created_at=cutoff + timedelta(days=5))
    Customer.objects.filter(pk=later.pk).update(created_at=cutoff + timedelta(days=60))
    CustomerFactory(email="aktiv@example.com")
    return due, later


def test_staff_see_who_is_anonymised_next_month(client, customers):
    client.force_login(StaffFactory())
    changelist = client.get(reverse("admin:customers_customer_changelist")).content.decode()
    assert reverse(URL) in changelist
    assert "Aufbewahrung" in changelist

    page = client.get(reverse(URL))
    html = page.content.decode()
    assert page.status_code == 200
    assert "1 Kunde wird anonymisiert." in html
    assert "bald-weg@example.com" in html
    assert "noch-nicht@example.com" not in html
    assert "aktiv@example.com" not in html

    csv = client.get(reverse(URL), {"format": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode().splitlines()
    assert lines[0] == "customer_id,email,last_activity,points,anonymised_on"
    assert len(lines) == 2
    assert lines[1].startswith(f"{customers[0].pk},bald-weg@example.com,")


def test_only_staff_who_may_change_customers(client, customers):
    clerk = UserFactory(is_staff=True)
    clerk.user_permissions.add(
        Permission.objects.get(codename="view_customer", content_type__app_label="customers")
    )
    client.force_login(clerk)
    assert client.get(reverse(URL)).status_code == 403
    changelist = client.get(reverse("admin:customers_customer_changelist")).content.decode()
    assert reverse(URL) not in changelist

    clerk.user_permissions.add(
        Permission.objects.get(codename="change_customer", content_type__app_label="customers")
    )
    clerk = type(clerk).objects.get(pk=clerk.pk)  # fresh permission cache
    client.force_login(clerk)
    assert client.get(reverse(URL)).status_code == 200
