from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.services import customer_create
from programs.services.memberships import membership_enroll
from programs.services.purchases import purchase_record
from tests.factories import (
    PartnerFactory,
    ProgramFactory,
    RewardFactory,
    UserFactory,
    standard_tiers,
)

PASSWORD = "pw-for-tests"


@pytest.fixture(autouse=True)
def _german_by_default(settings):
    settings.LANGUAGE_CODE = "de"


@pytest.fixture
def program(db):
    return ProgramFactory(name="Kaffeerösterei", slug="kaffee", pending_days=14)


@pytest.fixture
def tiers(program):
    return standard_tiers(program)


@pytest.fixture
def partner(program):
    return PartnerFactory(programs=[program])


def make_customer(email: str, first_name: str = "Anna", language: str = "de"):
    user = UserFactory(username=email, email=email)
    return customer_create(
        email=email, first_name=first_name, last_name="Schmidt", language=language, user=user
    )


@pytest.fixture
def customer(db):
    return make_customer("anna@example.com")


@pytest.fixture
def membership(customer, program, tiers):
    return membership_enroll(customer=customer, program=program)[0]


@pytest.fixture
def other_membership(program, tiers):
    other = make_customer("bernd@example.com", first_name="Bernd")
    return membership_enroll(customer=other, program=program)[0]


@pytest.fixture
def portal(client, customer):
    """A test client signed in as the customer."""
    client.force_login(customer.user)
    return client


@pytest.fixture
def buy(partner):
    """buy(membership, "49.90", days_ago=20): a purchase, awarded at once."""
    counter = {"n": 0}

    def _buy(membership, amount, *, days_ago=0, order_id=None):
        counter["n"] += 1
        purchase, _ = purchase_record(
            partner=partner,
            membership=membership,
            order_id=order_id or f"B-{counter['n']:04d}",
            amount=Decimal(amount),
            currency="EUR",
            occurred_at=timezone.now() - timedelta(days=days_ago, minutes=1),
            award_now=True,
        )
        return purchase

    return _buy


@pytest.fixture
def reward(program):
    return RewardFactory(program=program, name="Cappuccino", points_cost=150)
