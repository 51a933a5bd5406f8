"""A small coalition for the dashboard tests: two programs in two currencies, a partner in
one of them and a partner in both, customers linked to none, one or both partners,
purchases with products over three years, some rejected, expired points, pending points,
survey answers of all four kinds (several by the same member in a month), engagement
scores. Written through the services, except the answers: a member answers more often
than the invitation throttle allows, which is what the counting rule is about."""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from programs.models import ExpiryPolicy, Membership, Partner, Program, Purchase, PurchaseStatus
from programs.services.due import points_expire_due
from programs.services.memberships import membership_enroll, partner_customer_link
from programs.services.purchases import LineData, purchase_record
from surveys.models import Invitation, Response, ResponseStatus, Survey, SurveyKind
from surveys.services.surveys import survey_create
from tests.factories import (
    CustomerFactory,
    PartnerFactory,
    ProgramFactory,
    engagement_scored,
    standard_tiers,
)

PRODUCTS = [("BOH-1", "Bohnen"), ("BOH-2", "Bohnen"), ("", "Zubehör"), ("TASSE", "Zubehör")]


@dataclass
class Coalition:
    now: datetime
    coffee: Program  # EUR, points expire after 12 months
    city: Program  # CHF, points pending for 30 days
    bookshop: Partner  # in the coffee program only
    bakery: Partner  # in both programs
    surveys: dict


def answer_record(survey: Survey, membership: Membership, at: datetime, score, cli=None):
    invitation = Invitation.objects.create(
        survey=survey,
        membership=membership,
        customer=membership.customer,
        channel="staff",
        created_at=at - timedelta(hours=2),
        expires_at=at + timedelta(days=14),
        answered_at=at,
    )
    Response.objects.create(
        invitation=invitation,
        status=ResponseStatus.ANSWERED,
        survey=survey,
        kind=survey.kind,
        program=survey.program,
        membership=membership,
        tier=membership.tier,
        score=score,
        cli_total=cli,
        submitted_at=at,
    )


def build(seed: int = 17) -> Coalition:
    rng = random.Random(seed)
    now = timezone.now()
    coffee = ProgramFactory(
        name="Kaffee",
        slug="kaffee",
        currency="EUR",
        point_value=Decimal("0.0100"),
        expiry_policy=ExpiryPolicy.FIXED_PERIOD,
        expiry_months=12,
    )
    city = ProgramFactory(
        name="Stadt",
        slug="stadt",
        currency="CHF",
        point_value=Decimal("0.0125"),
        expiry_policy=ExpiryPolicy.NEVER,
        pending_days=30,
    )
    standard_tiers(coffee)
    standard_tiers(city)
    bookshop = PartnerFactory(slug="buch", name="Buchladen", programs=[coffee])
    bakery = PartnerFactory(slug="baeckerei", name="Bäckerei", programs=[coffee, city])
    # (programs, partners who linked the customer)
    people = [
        ((coffee, city), (bookshop,)),  # the bookshop's member in the coffee program only
        ((coffee, city), (bakery,)),
        ((coffee,), (bookshop, bakery)),
        ((city,), ()),
        ((city,), (bakery,)),
        ((coffee,), ()),
        ((coffee, city), (bookshop, bakery)),
        ((coffee,), (bookshop,)),
    ]
    memberships = []
    for number, (programs, partners) in enumerate(people):
        customer = CustomerFactory()
        for partner in partners:
            partner_customer_link(partner=partner, customer=customer, external_id=f"c{number}")
        for program in programs:
            membership, _ = membership_enroll(
                customer=customer, program=program, joined_at=now - timedelta(days=1200)
            )
            memberships.append(membership)
    orders = 0
    for membership in memberships:
        partner = bakery if membership.program == city else rng.choice([bookshop, bakery])
        for _ in range(rng.randint(0, 9)):
            orders += 1
            at = now - timedelta(days=rng.randint(1, 1150), minutes=rng.randint(0, 1440))
            lines = [
                LineData(sku, category, rng.randint(1, 2), Decimal(rng.randint(3, 60)))
                for sku, category in rng.sample(PRODUCTS, rng.randint(1, 2))
            ]
            amount = sum((line.amount for line in lines), Decimal(0))
            purchase, _ = purchase_record(
                partner=partner,
                membership=membership,
                order_id=f"o-{orders}",
                amount=amount,
                currency=membership.program.currency,
                occurred_at=at,
                lines=lines if rng.random() < 0.8 else [],
                award_now=True,
            )
            if rng.random() < 0.1:  # rejected: counts nowhere
                Purchase.objects.filter(pk=purchase.pk).update(status=PurchaseStatus.REJECTED)
    points_expire_due(now=now)

    surveys = {
        (program, kind): survey_create(program=program, kind=kind, name=f"{kind} {program.slug}")
        for program in (coffee, city)
        for kind in (SurveyKind.NPS, SurveyKind.CSAT, SurveyKind.CES, SurveyKind.CLI)
    }
    for membership in Membership.objects.select_related("program", "customer"):
        for kind in SurveyKind.values:
            survey = surveys[(membership.program, kind)]
            for _ in range(rng.randint(0, 4)):
                at = now - timedelta(days=rng.randint(0, 1100), hours=rng.randint(1, 20))
                for repeat in range(rng.choice([1, 1, 2])):  # twice within hours, sometimes
                    when = at + timedelta(hours=repeat)
                    if kind == SurveyKind.CLI:
                        parts = [rng.randint(0, 10) for _ in range(3)]
                        skipped = rng.random() < 0.15
                        answer_record(
                            survey, membership, when, parts[0], None if skipped else sum(parts)
                        )
                    else:
                        scale = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}[kind]
                        score = None if rng.random() < 0.1 else rng.randint(*scale)
                        answer_record(survey, membership, when, score)
    for membership in Membership.objects.all()[::2]:
        engagement_scored(membership, Decimal(rng.randint(0, 10000)) / 100, at=now)
    return Coalition(
        now=now, coffee=coffee, city=city, bookshop=bookshop, bakery=bakery, surveys=surveys
    )
