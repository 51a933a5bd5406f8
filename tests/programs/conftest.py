from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from programs.services.ledger import Actor
from programs.services.memberships import membership_enroll
from programs.services.purchases import LineData, purchase_record
from tests.factories import CustomerFactory, PartnerFactory, ProgramFactory, standard_tiers


@pytest.fixture
def program(db):
    return ProgramFactory()


@pytest.fixture
def tiers(program):
    return standard_tiers(program)


@pytest.fixture
def partner(program):
    return PartnerFactory(programs=[program])


@pytest.fixture
def membership(program, tiers):
    membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
    return membership


@pytest.fixture
def buy(partner):
    """Record and award a purchase at once: buy(membership, "49.90", lines=[...])."""
    counter = {"n": 0}

    def _buy(membership, amount, *, lines=(), occurred_at=None, order_id=None, **kwargs):
        counter["n"] += 1
        purchase, _ = purchase_record(
            partner=kwargs.pop("partner", partner),
            membership=membership,
            order_id=order_id or f"order-{counter['n']}",
            amount=Decimal(amount),
            currency="EUR",
            occurred_at=occurred_at or timezone.now() - timedelta(minutes=1),
            lines=[LineData(**line) for line in lines],
            award_now=True,
            **kwargs,
        )
        return purchase

    return _buy


@pytest.fixture
def system():
    return Actor.system()
