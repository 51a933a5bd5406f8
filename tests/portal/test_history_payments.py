"""Paying with points at a shop, as the member reads it in the portal's history."""

from decimal import Decimal

import pytest
from django.utils import timezone

from programs.services.due import points_release_due
from programs.services.holds import hold_capture, hold_place

pytestmark = pytest.mark.django_db


def test_a_payment_with_points_reads_as_reserved_paid_and_released(
    portal, membership, buy, partner
):
    buy(membership, "300.00", days_ago=20)  # out of the 14-day return window: 300 points
    points_release_due(timezone.now())
    hold, _ = hold_place(
        membership=membership,
        partner=partner,
        amount=Decimal("2.50"),  # 250 points at 0.01 EUR
        idempotency_key="till-1",
        order_reference="K-77",
    )
    hold_capture(hold=hold, points=100)
    html = portal.get("/portal/history/").content.decode()
    assert "Punkte für Bestellung K-77 reserviert" in html
    assert "Mit Punkten bezahlt: Bestellung K-77" in html
    assert "Reservierte Punkte freigegeben: Bestellung K-77" in html
    assert "(reserviert)" in html  # the 100 paid came out of the reserved points
    paid = portal.get("/portal/history/?kind=paid").context["lines"]
    assert [line["entry"].kind for line in paid] == ["hold_release", "capture", "hold"]
    english = portal.get("/en/portal/history/").content.decode()
    assert "Paid with points: order K-77" in english
