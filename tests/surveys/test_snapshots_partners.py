"""Metric snapshots per partner and for all members: a partner's rows count its members
(the customers it linked, in its programs) and all they did there, whichever partner
reported it; a customer linked by two partners counts for both, once in all members."""

from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from programs.services.actions import points_adjust
from programs.services.memberships import partner_customer_link
from surveys.models import MetricSnapshot
from surveys.services.invitations import invitation_create
from surveys.services.responses import response_submit
from surveys.services.snapshots import snapshots_build
from tests.factories import PartnerFactory, StaffFactory

pytestmark = pytest.mark.django_db

FIELDS = ("points_issued", "nps_promoters", "nps_detractors", "members")


def totals(**filters) -> dict[str, int]:
    sums = MetricSnapshot.objects.filter(**filters).aggregate(**{f: Sum(f) for f in FIELDS})
    return {name: value or 0 for name, value in sums.items()}


def test_partner_rows_count_the_partners_members(program, partner, member, buy, nps_survey):
    shop = PartnerFactory(slug="laden", programs=[program])
    now = timezone.now()
    first, second, third = member(), member(), member()
    partner_customer_link(partner=partner, customer=first.customer, external_id="f")
    partner_customer_link(partner=partner, customer=second.customer, external_id="s")
    partner_customer_link(partner=shop, customer=second.customer, external_id="s")
    buy(first, "40.00", occurred_at=now - timedelta(days=2))  # reported by the partner
    buy(third, "25.00", occurred_at=now - timedelta(days=1))  # a customer nobody linked
    points_adjust(
        membership=second, points=30, reason="Kulanz", user=StaffFactory(), idempotency_key="k1"
    )  # a staff adjustment of the member both partners linked
    for membership, score in ((first, 10), (second, 2), (third, 9)):
        invitation = invitation_create(
            survey=nps_survey, membership=membership, channel="staff", now=now
        )
        response_submit(invitation_id=invitation.pk, answers={"recommend": score}, now=now)

    snapshots_build(now=now + timedelta(minutes=1))

    # every member answered once and earned 50 survey points
    everyone = totals(partner__isnull=True)
    assert everyone == {
        "points_issued": 40 + 25 + 30 + 3 * 50,
        "nps_promoters": 2,
        "nps_detractors": 1,
        "members": 3,
    }
    # the partner's members: first and second
    assert totals(partner=partner) == {
        "points_issued": 40 + 30 + 2 * 50,
        "nps_promoters": 1,
        "nps_detractors": 1,
        "members": 2,
    }
    # the shop's member: second, though the shop reported nothing
    assert totals(partner=shop) == {
        "points_issued": 30 + 50,
        "nps_promoters": 0,
        "nps_detractors": 1,
        "members": 1,
    }
