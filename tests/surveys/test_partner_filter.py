"""The partner filter means one thing everywhere: the partner's members, the customers it
linked, in the partner's programs (issue 17, items 1 and 6). A customer the bookshop
linked who also collects in the city card (which the bookshop is not part of) counts for
the bookshop with the coffee membership only; an answer the bookshop merely passed on
(an invitation it sent) does not make an unlinked customer its member."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from programs.services.memberships import membership_enroll, partner_customer_link
from programs.services.purchases import purchase_record
from surveys.models import SurveyKind
from surveys.services.invitations import invitation_create
from surveys.services.responses import response_submit
from surveys.services.snapshots import snapshots_build
from surveys.services.surveys import survey_create
from tests.api.conftest import client_for
from tests.factories import CustomerFactory, PartnerFactory, ProgramFactory, engagement_scored

pytestmark = pytest.mark.django_db
DASHBOARD = "/admin/surveys/metricsdashboard/"


@pytest.fixture
def coalition():
    coffee = ProgramFactory(slug="kaffee", name="Kaffee")  # EUR, 1 point per euro, 0.01 EUR
    city = ProgramFactory(slug="stadt", name="Stadt")
    bookshop = PartnerFactory(slug="buch", programs=[coffee])
    bakery = PartnerFactory(slug="baecker", programs=[coffee, city])
    anna, ben = CustomerFactory(), CustomerFactory()
    partner_customer_link(partner=bookshop, customer=anna, external_id="anna")
    memberships = {}
    for customer, program in ((anna, coffee), (anna, city), (ben, coffee)):
        memberships[(customer, program)], _ = membership_enroll(customer=customer, program=program)
    for n, ((customer, program), amount) in enumerate(
        zip(memberships, ["120.00", "300.00", "50.00"], strict=True)
    ):
        purchase_record(
            partner=bakery,
            membership=memberships[(customer, program)],
            order_id=f"o-{n}",
            amount=Decimal(amount),
            currency="EUR",
            occurred_at=timezone.now() - timedelta(days=3),
            award_now=True,
        )
    for key, score in (((anna, coffee), "10.00"), ((anna, city), "90.00")):
        engagement_scored(memberships[key], score)
    return {
        "coffee": coffee,
        "city": city,
        "bookshop": bookshop,
        "anna": anna,
        "ben": ben,
        "memberships": memberships,
    }


def test_partner_filter_counts_the_partners_members_in_its_programs_only(admin_client, coalition):
    snapshots_build()
    bookshop = coalition["bookshop"]
    reply = admin_client.get(DASHBOARD, {"partner": bookshop.pk})
    stocks, (liability,) = reply.context["stocks"], reply.context["liabilities"]
    # Anna's coffee membership only: 1 member, 120 points, 120 x 0.01 = 1.20 EUR
    # (not her city card: 2 members, 420 points, 4.20 EUR)
    assert stocks["bands"]["members"] == 1
    assert stocks["bands"]["points_outstanding"] == 120
    assert (liability.currency, liability.available) == ("EUR", Decimal("1.20"))
    # her coffee membership scores 10 (band 0-19); the city card's 90 is not the bookshop's
    assert stocks["engagement"][0] == ("0-19", 1)
    assert stocks["engagement"][4] == ("80-100", 0)

    everyone = admin_client.get(DASHBOARD).context
    # 3 memberships, 120 + 300 + 50 = 470 points = 4.70 EUR
    assert everyone["stocks"]["bands"]["members"] == 3
    assert everyone["liabilities"][0].available == Decimal("4.70")


def test_partner_nps_is_the_same_on_the_dashboard_and_in_the_api(admin_client, coalition):
    coffee, city, bookshop = coalition["coffee"], coalition["city"], coalition["bookshop"]
    memberships, anna, ben = coalition["memberships"], coalition["anna"], coalition["ben"]
    answers = [
        (memberships[(anna, coffee)], coffee, 10, None),  # her coffee answer: counts
        (memberships[(anna, city)], city, 0, None),  # the city card: not the bookshop's
        (memberships[(ben, coffee)], coffee, 2, bookshop),  # sent by the bookshop; Ben unlinked
    ]
    for days, (membership, program, score, via) in zip((30, 20, 10), answers, strict=True):
        at = timezone.now() - timedelta(days=days)  # apart: one invitation a week at most
        survey = survey_create(program=program, kind=SurveyKind.NPS, name=f"NPS {program.slug}")
        invitation = invitation_create(
            survey=survey, membership=membership, channel="staff", partner=via, now=at
        )
        response_submit(invitation_id=invitation.pk, answers={"recommend": score}, now=at)
    snapshots_build()

    shown = admin_client.get(DASHBOARD, {"partner": bookshop.pk}).context["summary"]["nps"]
    cache.clear()
    api = client_for(bookshop).get("/api/v1/surveys/nps").json()
    # one promoter of one answer: NPS = 100 * (1 - 0) / 1 = 100, on both
    assert (shown.n, shown.score) == (1, 100.0)
    assert (api["responses"], api["promoters"], api["detractors"], api["nps"]) == (1, 1, 0, 100.0)
