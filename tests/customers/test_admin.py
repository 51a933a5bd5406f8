"""The customer admin writes through customers.services and enrolls through
membership_enroll."""

import pytest
from django.urls import reverse

from customers.models import Customer
from programs.models import Membership
from programs.services.memberships import membership_enroll
from tests.factories import CustomerFactory, ProgramFactory, StaffFactory, standard_tiers


@pytest.fixture
def staff_client(client, db):
    client.force_login(StaffFactory())
    return client


def customer_data(**changes):
    data = {
        "email": "Max.Muster+shop@GoogleMail.com",
        "first_name": " Max ",
        "last_name": "Muster",
        "language": "en",
        "birth_date": "",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "notes-TOTAL_FORMS": "0",  # the read-only notes inline of the change page
        "notes-INITIAL_FORMS": "0",
    }
    return {**data, **changes}


def test_create_normalises_the_email(staff_client):
    response = staff_client.post(reverse("admin:customers_customer_add"), customer_data())

    customer = Customer.objects.get()
    assert response["Location"] == reverse("admin:customers_customer_changelist")
    assert customer.email == "Max.Muster+shop@GoogleMail.com"
    assert customer.email_normalized == "maxmuster@gmail.com"
    assert customer.first_name == "Max"


def test_edit_keeps_the_normalised_email_in_step(staff_client):
    customer = CustomerFactory(email="alt@example.com", email_normalized="alt@example.com")
    url = reverse("admin:customers_customer_change", args=[customer.pk])

    data = customer_data(email="Neu+x@Example.com", first_name=customer.first_name)
    response = staff_client.post(url, {**data, "last_name": customer.last_name})

    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.email, customer.email_normalized) == ("Neu+x@Example.com", "neu@example.com")
    assert customer.language == "en"


def test_normalised_email_cannot_be_typed_in(staff_client):
    customer = CustomerFactory(email="a@example.com", email_normalized="a@example.com")
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    data = customer_data(email="a@example.com", email_normalized="forged@example.com")
    staff_client.post(url, data)
    customer.refresh_from_db()
    assert customer.email_normalized == "a@example.com"


def test_duplicate_email_is_a_form_error(staff_client):
    CustomerFactory(email="max@example.com")
    response = staff_client.post(
        reverse("admin:customers_customer_add"), customer_data(email="MAX@example.com")
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert Customer.objects.count() == 1


def test_search_by_email_or_name_and_filter_by_language(staff_client):
    wanted = CustomerFactory(email="erika@example.com", last_name="Mustermann", language="en")
    CustomerFactory(email="other@example.com", last_name="Schmidt", language="de")
    url = reverse("admin:customers_customer_changelist")

    for term in ("erika@", "Mustermann"):
        response = staff_client.get(url, {"q": term})
        assert list(response.context["cl"].result_list) == [wanted]
    response = staff_client.get(url, {"language__exact": "en"})
    assert list(response.context["cl"].result_list) == [wanted]


def test_change_page_shows_memberships_read_only(staff_client):
    program = ProgramFactory(name="Bonusclub")
    standard_tiers(program)
    customer = CustomerFactory()
    membership_enroll(customer=customer, program=program)

    response = staff_client.get(reverse("admin:customers_customer_change", args=[customer.pk]))

    content = response.content.decode()
    assert "Bonusclub" in content
    assert "Bronze" in content
    inline = response.context["inline_admin_formsets"][0]
    assert not inline.has_add_permission
    assert not inline.has_change_permission
    assert dict(response.context["object_tools"])["In ein Programm aufnehmen"]


def test_enroll_from_the_customer_page(staff_client):
    program = ProgramFactory()
    standard_tiers(program)
    customer = CustomerFactory()
    url = reverse("admin:customers_customer_enroll", args=[customer.pk])

    page = staff_client.get(url)
    assert list(page.context["form"].fields["program"].queryset) == [program]
    response = staff_client.post(url, {"program": program.pk})

    assert response["Location"] == reverse("admin:customers_customer_change", args=[customer.pk])
    membership = Membership.objects.get(customer=customer)
    assert membership.program == program
    assert membership.tier.name == "Bronze"
    # Already a member: the program is no longer offered.
    assert not staff_client.get(url).context["form"].fields["program"].queryset.exists()


def test_customers_cannot_be_deleted_here(staff_client):
    customer = CustomerFactory()
    url = reverse("admin:customers_customer_delete", args=[customer.pk])
    assert staff_client.post(url, {"post": "yes"}).status_code == 403
    assert Customer.objects.filter(pk=customer.pk).exists()
