"""Metric snapshots per partner and for all partners: ledger movements and answers carry at
most one partner, so the all-partners figures are exactly the partner figures plus those
of no partner."""

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from programs.models import LedgerEntry
from programs.services.actions import points_adjust
from surveys.models import MetricSnapshot
from surveys.services.invitations import invitation_create
from surveys.services.responses import response_submit
from surveys.services.snapshots import snapshots_build
from tests.factories import PartnerFactory, StaffFactory

pytestmark = pytest.mark.django_db

FIELDS = ("points_issued", "points_redeemed", "nps_promoters", "nps_detractors")


def totals(**filters) -> dict[str, int]:
    sums = MetricSnapshot.objects.filter(**filters).aggregate(**{f: Sum(f) for f in FIELDS})
    return {name: value or 0 for name, value in sums.items()}


def test_all_partner_rows_are_partner_rows_plus_rows_of_no_partner(
    program, partner, member, buy, nps_survey
):
    other = PartnerFactory(slug="laden", programs=[program])
    now = timezone.now()
    first, second, third = member(), member(), member()
    buy(first, "40.00", occurred_at=now - timedelta(days=2))  # awarded for the partner
    buy(second, "25.00", occurred_at=now - timedelta(days=1))
    points_adjust(
        membership=second, points=30, reason="Kulanz", user=StaffFactory(), idempotency_key="k1"
    )  # a staff adjustment: no partner
    for membership, score, via in ((first, 10, partner), (second, 2, other), (third, 9, None)):
        invitation = invitation_create(
            survey=nps_survey, membership=membership, channel="staff", partner=via, now=now
        )
        response_submit(invitation_id=invitation.pk, answers={"recommend": score}, now=now)

    snapshots_build(now=now + timedelta(minutes=1))

    issued = LedgerEntry.objects.filter(kind="earn").aggregate(total=Sum("points"))["total"]
    by_partner = totals(partner=partner)
    by_other = totals(partner=other)
    everyone = totals(partner__isnull=True)
    assert everyone["points_issued"] == issued + 30  # earns (incl. survey points) + adjustment
    assert by_partner["points_issued"] == 40 + 25  # the two purchases' points, 1 per euro
    assert by_other["points_issued"] == 0
    assert (everyone["nps_promoters"], everyone["nps_detractors"]) == (2, 1)
    assert (by_partner["nps_promoters"], by_partner["nps_detractors"]) == (1, 0)
    assert (by_other["nps_promoters"], by_other["nps_detractors"]) == (0, 1)
