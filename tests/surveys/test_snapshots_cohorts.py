"""Repurchase cohorts: a member's cohort is the month of their first purchase (rejected
ones do not count), and they count "within N days" when their next purchase after it
came at most N days later. Checked on chosen edge cases and, on random purchase
histories, against the definition written as plain per-member subqueries."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.db.models import Count, DateTimeField, ExpressionWrapper, F, OuterRef, Q, Subquery
from django.db.models.functions import TruncMonth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from programs.models import Membership, Purchase, PurchaseStatus
from surveys.figures.cohorts import REPURCHASE_WINDOWS
from surveys.models import CohortSnapshot
from surveys.services.snapshots import cohorts_build

pytestmark = pytest.mark.django_db
ORDER = count()
BASE = datetime(2025, 1, 31, 23, 30, tzinfo=UTC)  # already 1 February in Berlin


def purchase(membership, partner, at, status=PurchaseStatus.AWARDED):
    return Purchase.objects.create(
        program=membership.program,
        membership=membership,
        partner=partner,
        order_id=f"cohort-{next(ORDER)}",
        amount=Decimal("10.00"),
        currency="EUR",
        occurred_at=at,
        status=status,
    )


def cohorts() -> set[tuple]:
    return set(
        CohortSnapshot.objects.filter(partner=None).values_list(
            "cohort", "program_id", "tier_id", "customers", *_window_names()
        )
    )


def _window_names() -> list[str]:
    return [f"within_{days}" for days in REPURCHASE_WINDOWS]


def cohorts_by_definition() -> set[tuple]:
    """The cohorts as the definition reads: per member, the first purchase's time and the
    first purchase after it, as correlated subqueries (the earlier implementation)."""
    live = Purchase.objects.filter(membership=OuterRef("pk")).exclude(
        status=PurchaseStatus.REJECTED
    )
    first = live.order_by("occurred_at", "pk").values("occurred_at")[:1]
    members = Membership.objects.annotate(first_at=Subquery(first)).filter(first_at__isnull=False)
    second = live.filter(occurred_at__gt=OuterRef("first_at")).order_by("occurred_at")
    members = members.annotate(second_at=Subquery(second.values("occurred_at")[:1]))
    windows = {
        f"within_{days}": Count(
            "pk",
            filter=Q(
                second_at__lte=ExpressionWrapper(
                    F("first_at") + timedelta(days=days), output_field=DateTimeField()
                )
            ),
        )
        for days in REPURCHASE_WINDOWS
    }
    rows = (
        members.values(
            g_cohort=TruncMonth("first_at"), g_program=F("program_id"), g_tier=F("tier_id")
        )
        .annotate(customers=Count("pk"), **windows)
        .order_by()
    )
    return {
        (
            row["g_cohort"].date() if isinstance(row["g_cohort"], datetime) else row["g_cohort"],
            row["g_program"],
            row["g_tier"],
            row["customers"],
            *(row[name] for name in _window_names()),
        )
        for row in rows
    }


def test_edge_cases_of_first_and_next_purchase(member, partner):
    tied = member()  # two purchases at the same instant: no purchase *after* the first
    purchase(tied, partner, BASE)
    purchase(tied, partner, BASE)
    boundary = member()  # the next purchase exactly 30 days later counts within 30
    purchase(boundary, partner, BASE)
    purchase(boundary, partner, BASE + timedelta(days=30))
    late = member()  # a day over a year later: a customer of the cohort, in no window
    purchase(late, partner, BASE)
    purchase(late, partner, BASE + timedelta(days=366))
    rejected_first = member()  # a rejected purchase neither starts a cohort nor repeats
    purchase(rejected_first, partner, BASE - timedelta(days=40), PurchaseStatus.REJECTED)
    purchase(rejected_first, partner, BASE)
    purchase(rejected_first, partner, BASE + timedelta(days=10), PurchaseStatus.REJECTED)
    purchase(rejected_first, partner, BASE + timedelta(days=100))
    only_rejected = member()
    purchase(only_rejected, partner, BASE, PurchaseStatus.REJECTED)
    member()  # no purchase at all

    assert cohorts_build() == 1

    (row,) = CohortSnapshot.objects.all()
    assert row.cohort.isoformat() == "2025-02-01"  # the month in Berlin, not in UTC
    assert row.customers == 4
    assert (row.within_30, row.within_90, row.within_180, row.within_365) == (1, 1, 2, 2)
    assert cohorts() == cohorts_by_definition()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    histories=st.lists(
        st.lists(  # per member: (days after BASE, rejected?)
            st.tuples(st.integers(-400, 400), st.booleans()), min_size=0, max_size=5
        ),
        min_size=1,
        max_size=6,
    )
)
def test_cohorts_match_the_definition_on_random_histories(member, partner, histories):
    Purchase.objects.all().delete()
    for history in histories:
        membership = member()
        for days, rejected in history:
            status = PurchaseStatus.REJECTED if rejected else PurchaseStatus.AWARDED
            purchase(membership, partner, BASE + timedelta(days=days), status)

    cohorts_build()

    assert cohorts() == cohorts_by_definition()
