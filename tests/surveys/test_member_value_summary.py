"""The dashboard's customer value of a program: sums of the fitted per-member figures
for the members a partner or months filter selects, with the fit's sample size, time and
warnings, rendered in German."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.template.loader import render_to_string

from programs.models import MembershipFigures, PartnerCustomer
from programs.services.figures import MemberValue, figures_value_write
from programs.services.memberships import membership_enroll
from surveys.member_value_selectors import program_value_summary
from surveys.models import MemberValueFit
from tests.factories import CustomerFactory, PartnerFactory, ProgramFactory

FITTED_AT = datetime(2026, 6, 2, 1, 15, tzinfo=UTC)
TODAY = date(2026, 6, 20)


@pytest.fixture
def partners(program):
    return {
        "shop": PartnerFactory(slug="shop", programs=[program]),
        "cafe": PartnerFactory(slug="cafe", programs=[program]),
        "outsider": PartnerFactory(slug="outsider"),  # in another program only
    }


def link(partner, membership):
    PartnerCustomer.objects.create(
        partner=partner, customer=membership.customer, external_id=f"x-{membership.pk}"
    )


@pytest.fixture
def scenario(program, partners, member, buy):
    """recent (shop, bought in June), old (shop, bought in January), cafe (cafe, bought in
    June), unfitted (shop, no purchase, no figures); a member of another program."""
    recent, old, cafe, unfitted = member(), member(), member(), member()
    for membership, partner in (
        (recent, "shop"),
        (old, "shop"),
        (cafe, "cafe"),
        (unfitted, "shop"),
    ):
        link(partners[partner], membership)
    buy(recent, "30.00", occurred_at=datetime(2026, 6, 5, 12, tzinfo=UTC))
    buy(old, "30.00", occurred_at=datetime(2026, 1, 5, 12, tzinfo=UTC))
    buy(cafe, "30.00", occurred_at=datetime(2026, 6, 1, 12, tzinfo=UTC))
    figures_value_write(
        program_id=program.pk,
        values=[
            MemberValue(recent.pk, Decimal("0.9000"), Decimal("3.00"), Decimal("100.00")),
            MemberValue(old.pk, Decimal("0.2500"), Decimal("0.50"), Decimal("50.50")),
            MemberValue(cafe.pk, Decimal("0.5000"), Decimal("1.00"), Decimal("10.00")),
        ],
        horizon_months=12,
        computed_at=FITTED_AT,
    )
    other = ProgramFactory()
    stranger = membership_enroll(customer=CustomerFactory(), program=other)[0]
    link(partners["outsider"], stranger)
    figures_value_write(
        program_id=other.pk,
        values=[MemberValue(stranger.pk, Decimal("1"), Decimal("9"), Decimal("999.99"))],
        horizon_months=12,
        computed_at=FITTED_AT,
    )
    MemberValueFit.objects.create(
        program=program,
        attempted_at=FITTED_AT,
        fitted_at=FITTED_AT,
        customers=3,
        repeat_customers=0,
        too_small=True,
        horizon_months=12,
    )
    return program


@pytest.mark.parametrize(
    ("partner_slug", "months", "members", "clv_sum", "clv_mean", "alive"),
    [
        # all three: 100.00 + 50.50 + 10.00 = 160.50, / 3 = 53.50; 0.9 + 0.25 + 0.5 = 1.65
        (None, None, 3, "160.50", "53.50", "1.6500"),
        # the shop's: recent and old (unfitted has no figures): 150.50, / 2 = 75.25
        ("shop", None, 2, "150.50", "75.25", "1.1500"),
        # bought since 1 June (months=1 on 20 June): recent and cafe: 110.00, / 2 = 55.00
        (None, 1, 2, "110.00", "55.00", "1.4000"),
        # since 1 January (months=6): all three
        (None, 6, 3, "160.50", "53.50", "1.6500"),
        ("shop", 1, 1, "100.00", "100.00", "0.9000"),
        ("cafe", None, 1, "10.00", "10.00", "0.5000"),
    ],
)
def test_filters_slice_the_fitted_members(
    scenario, partners, partner_slug, months, members, clv_sum, clv_mean, alive
):
    summary = program_value_summary(
        scenario, partner=partners.get(partner_slug), months=months, today=TODAY
    )
    assert (summary.members, summary.clv_sum, summary.clv_mean, summary.expected_active) == (
        members,
        Decimal(clv_sum),
        Decimal(clv_mean),
        Decimal(alive),
    )
    assert (summary.currency, summary.sample_size, summary.fitted_at) == ("EUR", 3, FITTED_AT)
    assert summary.too_small


def test_a_partner_outside_the_program_sees_nobody(scenario, partners):
    summary = program_value_summary(scenario, partner=partners["outsider"], today=TODAY)
    assert (summary.members, summary.clv_sum, summary.clv_mean, summary.expected_active) == (
        0,
        None,
        None,
        None,
    )


def test_the_partial_shows_the_figures_and_the_warning_in_german(scenario):
    html = render_to_string(
        "surveys/_member_value.html",
        {"member_value": program_value_summary(scenario, today=TODAY)},
    )
    assert "Prognostizierter CLV, nächste 12 Monate, gesamt" in html
    assert "160,50 EUR" in html
    assert "53,50 EUR" in html
    assert "<b>1,7</b>" in html  # expected active customers: 1.65 to one decimal
    assert "3 Kunden" in html
    assert "Zu wenige Kunden" in html


def test_the_partial_before_any_fit(program):
    html = render_to_string(
        "surveys/_member_value.html", {"member_value": program_value_summary(program)}
    )
    assert "Noch keine Schätzung" in html


def test_sums_are_kept_for_the_filter_until_the_next_fit(scenario, django_assert_num_queries):
    first = program_value_summary(scenario, months=6, today=TODAY)
    with django_assert_num_queries(1):  # the fit; the sums over the members are kept
        assert program_value_summary(scenario, months=6, today=TODAY) == first
    assert program_value_summary(scenario, months=1, today=TODAY).members == 2  # its own

    # the next nightly fit rewrites every member's figures and its own time
    refitted = datetime(2026, 6, 21, 1, 15, tzinfo=UTC)
    fitted_ids = MembershipFigures.objects.filter(
        membership__program=scenario, predicted_clv__isnull=False
    ).values_list("membership_id", flat=True)
    figures_value_write(
        program_id=scenario.pk,
        values=[
            MemberValue(pk, Decimal("0.1"), Decimal("1"), Decimal("1.00")) for pk in fitted_ids
        ],
        horizon_months=12,
        computed_at=refitted,
    )
    MemberValueFit.objects.filter(program=scenario).update(attempted_at=refitted)

    summary = program_value_summary(scenario, months=6, today=TODAY)
    assert (summary.members, summary.clv_sum) == (3, Decimal("3.00"))
