"""Repurchase cohorts on the dashboard (issue 17, item 3): a cell whose window of days
has not passed for the whole cohort is "not yet", not a rate; the chart and its CSV
follow the partner and months filters."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.utils import timezone

from programs.services.memberships import membership_enroll, partner_customer_link
from programs.services.purchases import purchase_record
from surveys.services.snapshots import snapshots_build
from tests.factories import CustomerFactory, PartnerFactory, ProgramFactory

pytestmark = pytest.mark.django_db
DASHBOARD = "/admin/surveys/metricsdashboard/"


def cohorts_csv(client, **query) -> list[str]:
    reply = client.get(DASHBOARD, {**query, "export": "cohorts"})
    return b"".join(reply.streaming_content).decode("utf-8-sig").splitlines()


def test_cohorts_follow_the_filters_and_show_unfinished_windows_as_not_yet(admin_client):
    coffee, city = ProgramFactory(slug="kaffee"), ProgramFactory(slug="stadt")
    bookshop = PartnerFactory(programs=[coffee])
    bakery = PartnerFactory(programs=[coffee, city])
    anna, ben = CustomerFactory(), CustomerFactory()
    partner_customer_link(partner=bookshop, customer=anna, external_id="anna")
    today = timezone.localdate()
    this_month = today.replace(day=1)
    old = this_month - relativedelta(months=14)  # the 15th: more than 365 days ago
    old_at = timezone.make_aware(datetime.combine(old.replace(day=15), time(12)))
    orders = iter(range(100))

    def buy(customer, program, at):
        membership, _ = membership_enroll(customer=customer, program=program)
        purchase_record(
            partner=bakery,
            membership=membership,
            order_id=f"c-{next(orders)}",
            amount=Decimal("10.00"),
            currency="EUR",
            occurred_at=at,
            award_now=True,
        )

    buy(anna, coffee, old_at)
    buy(anna, coffee, old_at + timedelta(days=20))  # again after 20 days: within 30
    buy(anna, city, old_at)  # her city card: not the bookshop's program
    buy(ben, coffee, timezone.now() - timedelta(minutes=5))  # this month's cohort
    snapshots_build()

    old_label, new_label = f"{old:%Y-%m}", f"{this_month:%Y-%m}"
    # all members, 18 months: the old cohort (Anna's coffee and city memberships: 2, one
    # bought again within 20 days) and this month's (Ben), whose windows have not passed
    assert cohorts_csv(admin_client, months=18) == [
        "cohort,customers,within_30_days,within_90_days,within_180_days,within_365_days",
        f"{old_label},2,1,1,1,1",
        f"{new_label},1,,,,",
    ]
    # the last 12 months: the old cohort is outside
    assert cohorts_csv(admin_client, months=12)[1:] == [f"{new_label},1,,,,"]
    # the bookshop's members: Anna in the coffee program only
    assert cohorts_csv(admin_client, months=18, partner=bookshop.pk)[1:] == [
        f"{old_label},1,1,1,1,1"
    ]
    # on the chart, this month's four cells are "not yet" (grey, "…"), not 0 %
    reply = admin_client.get(DASHBOARD, {"months": 18})
    svg = str(reply.context["charts"]["cohorts"])
    assert svg.count('class="notyet"') == 4
    assert ">0 %<" not in svg
    assert svg.count(">50 %<") == 4  # the old cohort: 1 of 2 bought again, in each window
