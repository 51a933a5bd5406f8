from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from programs.models import ActionRule
from programs.services.memberships import membership_enroll
from programs.services.purchases import purchase_record
from surveys.models import SurveyKind
from surveys.services.surveys import survey_create
from tests.factories import CustomerFactory, PartnerFactory, ProgramFactory, standard_tiers


@pytest.fixture
def program(db):
    return ProgramFactory(slug="treue", name="Treue")


@pytest.fixture
def tiers(program):
    return standard_tiers(program)


@pytest.fixture
def partner(program):
    return PartnerFactory(slug="webshop", programs=[program])


@pytest.fixture
def action_rule(program):
    return ActionRule.objects.create(
        program=program, code="survey_answered", name="Umfrage beantwortet", points=50
    )


@pytest.fixture
def nps_survey(program, action_rule):
    return survey_create(program=program, kind=SurveyKind.NPS, name="NPS", action_rule=action_rule)


@pytest.fixture
def member(program, tiers):
    def _member(**customer_fields):
        membership, _ = membership_enroll(
            customer=CustomerFactory(**customer_fields), program=program
        )
        return membership

    return _member


@pytest.fixture
def membership(member):
    return member()


@pytest.fixture
def buy(partner):
    counter = {"n": 0}

    def _buy(membership, amount="50.00", *, occurred_at=None):
        counter["n"] += 1
        purchase, _ = purchase_record(
            partner=partner,
            membership=membership,
            order_id=f"s-order-{counter['n']}",
            amount=Decimal(amount),
            currency="EUR",
            occurred_at=occurred_at or timezone.now() - timedelta(minutes=1),
            lines=[],
            award_now=True,
        )
        return purchase

    return _buy
