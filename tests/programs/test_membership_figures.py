"""The writers of the per-membership figures: each group of columns is written without
wiping the other, set-based, and a program's fit clears only its own members' figures.
The membership page shows all figures, read-only, with when they were computed."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from programs.models import Membership, MembershipFigures
from programs.services.figures import MemberValue, figures_value_write
from programs.services.memberships import membership_enroll
from tests.factories import CustomerFactory, ProgramFactory, StaffFactory, engagement_scored

NIGHT = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
NEXT_NIGHT = datetime(2026, 6, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def members(program, tiers):
    return [membership_enroll(customer=CustomerFactory(), program=program)[0] for _ in range(2)]


@pytest.fixture
def elsewhere(db):
    """A member of another program."""
    return membership_enroll(customer=CustomerFactory(), program=ProgramFactory())[0]


def engagement(rows, at):
    """What the engagement recompute writes (membership, score, churn risk per row)."""
    for membership_id, score, churn_risk in rows:
        engagement_scored(
            Membership.objects.get(pk=membership_id), score, at=at, churn_risk=churn_risk
        )
    return len(rows)


def value(membership, alive, purchases, clv):
    return MemberValue(membership.pk, Decimal(alive), Decimal(purchases), Decimal(clv))


def figures(membership):
    return MembershipFigures.objects.get(membership=membership)


def test_each_writer_keeps_the_other_groups_columns(members):
    first, second = members
    written = figures_value_write(
        program_id=first.program_id,
        values=[value(first, "0.8123", "2.50", "118.40")],
        horizon_months=12,
        computed_at=NIGHT,
    )
    assert written == 1
    assert (
        engagement(
            [(first.pk, Decimal("61.25"), False), (second.pk, Decimal("12.00"), True)], NEXT_NIGHT
        )
        == 2
    )

    row = figures(first)
    assert (row.engagement_score, row.churn_risk, row.engagement_computed_at) == (
        Decimal("61.25"),
        False,
        NEXT_NIGHT,
    )
    assert (row.probability_alive, row.expected_purchases, row.predicted_clv) == (
        Decimal("0.8123"),
        Decimal("2.50"),
        Decimal("118.40"),
    )
    assert (row.clv_horizon_months, row.clv_computed_at) == (12, NIGHT)
    assert figures(second).predicted_clv is None  # engagement only

    # the fit of the next night: the engagement figures stay as they were
    figures_value_write(
        program_id=first.program_id,
        values=[value(first, "0.7000", "2.00", "90.00"), value(second, "1.0000", "0.40", "9.99")],
        horizon_months=12,
        computed_at=NEXT_NIGHT,
    )
    row = figures(first)
    assert (row.engagement_score, row.predicted_clv, row.clv_computed_at) == (
        Decimal("61.25"),
        Decimal("90.00"),
        NEXT_NIGHT,
    )
    assert (figures(second).engagement_score, figures(second).predicted_clv) == (
        Decimal("12.00"),
        Decimal("9.99"),
    )


def test_a_fit_clears_members_it_no_longer_covers_in_its_own_program_only(members, elsewhere):
    first, second = members
    figures_value_write(
        program_id=first.program_id,
        values=[value(first, "0.5", "1", "10"), value(second, "0.5", "1", "10")],
        horizon_months=12,
        computed_at=NIGHT,
    )
    figures_value_write(
        program_id=elsewhere.program_id,
        values=[value(elsewhere, "0.9", "3", "30")],
        horizon_months=12,
        computed_at=NIGHT,
    )
    engagement([(second.pk, Decimal("40.00"), False)], NIGHT)

    # next night the second member has no counted purchase left (all returned)
    figures_value_write(
        program_id=first.program_id,
        values=[value(first, "0.6", "1", "12")],
        horizon_months=12,
        computed_at=NEXT_NIGHT,
    )
    cleared = figures(second)
    assert (cleared.probability_alive, cleared.predicted_clv, cleared.clv_computed_at) == (
        None,
        None,
        None,
    )
    assert cleared.engagement_score == Decimal("40.00")  # not the fit's to clear
    assert figures(elsewhere).predicted_clv == Decimal("30")  # another program's fit
    assert figures(first).predicted_clv == Decimal("12")

    # nobody left to fit: every member of the program is cleared, the other program kept
    assert (
        figures_value_write(
            program_id=first.program_id, values=[], horizon_months=12, computed_at=NEXT_NIGHT
        )
        == 0
    )
    assert figures(first).predicted_clv is None
    assert figures(elsewhere).predicted_clv == Decimal("30")


def test_membership_page_shows_every_figure_with_its_date(client, members):
    member = members[0]
    figures_value_write(
        program_id=member.program_id,
        values=[value(member, "0.8123", "2.50", "118.40")],
        horizon_months=12,
        computed_at=NIGHT,
    )
    engagement([(member.pk, Decimal("61.25"), True)], NEXT_NIGHT)
    client.force_login(StaffFactory())
    page = client.get(reverse("admin:programs_membership_change", args=[member.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert '"fieldset-heading">Kennzahlen</h2>' in html  # the "Figures" section
    for shown in ("61,25", "0,8123", "2,50 in 12 Monaten", "118,40 EUR in 12 Monaten"):
        assert shown in html, shown
    # Europe/Berlin: 01:00 UTC on 1 and 2 June is 03:00 local time
    assert "1. Juni 2026 03:00" in html
    assert "2. Juni 2026 03:00" in html


def test_membership_page_without_figures_shows_empty_fields(client, members):
    client.force_login(StaffFactory())
    page = client.get(reverse("admin:programs_membership_change", args=[members[0].pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert '"fieldset-heading">Kennzahlen</h2>' in html
    assert "Engagement-Wert:" in html
