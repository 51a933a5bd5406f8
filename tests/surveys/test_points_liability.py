"""The points liability (issue 17, item 2): summed exactly and rounded once per currency,
never per (program, tier) row; never two currencies under one label; pending points shown
beside the available ones; and an expected-breakage estimate from the program's own
history (the share of its issued points that expired)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from programs.models import ExpiryPolicy
from programs.services.due import points_expire_due
from programs.services.memberships import membership_enroll
from programs.services.purchases import purchase_record
from surveys.services.snapshots import snapshots_build
from tests.factories import CustomerFactory, PartnerFactory, ProgramFactory, TierFactory

pytestmark = pytest.mark.django_db
DASHBOARD = "/admin/surveys/metricsdashboard/"


def buy(partner, program, amount, *, days_ago=1, order=[0]):  # noqa: B006 - an order counter
    order[0] += 1
    membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
    purchase_record(
        partner=partner,
        membership=membership,
        order_id=f"liability-{order[0]}",
        amount=Decimal(amount),
        currency=program.currency,
        occurred_at=timezone.now() - timedelta(days=days_ago),
        award_now=True,
    )
    membership.refresh_from_db()
    return membership


def test_liability_per_currency_rounded_once_with_pending_and_breakage(admin_client):
    coffee = ProgramFactory(
        slug="kaffee",
        currency="EUR",
        point_value=Decimal("0.0050"),
        expiry_policy=ExpiryPolicy.FIXED_PERIOD,
        expiry_months=12,
    )
    TierFactory(program=coffee, name="Bronze", rank=0, threshold=Decimal(0))
    TierFactory(program=coffee, name="Silber", rank=1, threshold=Decimal(5))
    city = ProgramFactory(slug="stadt", currency="CHF", point_value=Decimal("0.0100"))
    city.pending_days = 30
    city.save()
    partner = PartnerFactory(programs=[coffee, city])
    bronze = buy(partner, coffee, "3.00")  # 3 points, stays Bronze
    silver = buy(partner, coffee, "7.00")  # 7 points, reaches Silber (threshold 5)
    lapsed = buy(partner, coffee, "100.00", days_ago=400)  # 100 points, expired after 12 months
    buy(partner, city, "40.00")  # 40 points, pending for 30 days
    points_expire_due()
    assert (bronze.tier.name, silver.tier.name) == ("Bronze", "Silber")
    lapsed.refresh_from_db()
    assert lapsed.balance == 0
    snapshots_build()

    reply = admin_client.get(DASHBOARD)
    chf, eur = reply.context["liabilities"]  # by currency code
    # EUR: 3 + 7 = 10 points x 0.005 = 0.05 EUR, rounded once. Rounded per tier row it was
    # 0.015 -> 0.02 plus 0.035 -> 0.04 = 0.06.
    assert (eur.currency, eur.points_available, eur.available) == ("EUR", 10, Decimal("0.05"))
    assert (eur.points_pending, eur.pending) == (0, Decimal("0.00"))
    # Breakage: the coffee program issued 3 + 7 + 100 = 110 points, 100 of them expired:
    # 10 outstanding x 0.005 x 100/110 = 0.0454... -> 0.05 EUR
    assert eur.expected_breakage == Decimal("0.05")
    # CHF apart, never added to euros: 40 pending points x 0.01 = 0.40 CHF; nothing issued
    # in the city program has expired: breakage 40 x 0.01 x 0/40 = 0.00 CHF
    assert (chf.currency, chf.available, chf.pending) == ("CHF", Decimal("0.00"), Decimal("0.40"))
    assert chf.expected_breakage == Decimal("0.00")
    html = reply.content.decode()
    assert "0,05 EUR" in html
    assert "0,40 CHF" in html
    assert "Erwarteter Verfall (Schätzung)" in html
