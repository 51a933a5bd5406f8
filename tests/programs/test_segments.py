"""Segments: each field and operator picks the members staff would expect, groups combine
with and/or, and conditions that cannot work are refused with a German message."""

from datetime import date, timedelta
from functools import partial

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer
from customers.preferences import customer_preferences_update
from programs.models import (
    Membership,
    MembershipStatus,
    PartnerCustomer,
    PurchaseStatus,
    Segment,
    SegmentCondition,
)
from programs.models import SegmentField as F
from programs.models import SegmentOperator as Op
from programs.segments import (
    SegmentConditionInvalid,
    condition_errors,
    conditions_members,
    segment_member_counts,
    segment_members,
)
from tests.factories import PartnerFactory, ProgramFactory, standard_tiers
from tests.programs.segment_members import (
    cond,
    figures,
    make_member,
    make_purchase,
    matching,
    pks,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def member(program, tiers):
    return partial(make_member, program, tiers)


@pytest.fixture
def bought(partner, now):
    """bought(membership, "20.00", days_ago=3): a purchase ``days_ago`` days before now."""

    def _bought(membership, amount="20.00", *, days_ago, **kwargs):
        return make_purchase(
            membership, partner, amount, at=now - timedelta(days=days_ago), **kwargs
        )

    return _bought


def test_without_conditions_every_active_member_of_the_program_counts(program, member, now):
    active = member()
    suspended, closed, anonymised = member(), member(), member()
    Membership.objects.filter(pk=suspended.pk).update(status=MembershipStatus.SUSPENDED)
    Membership.objects.filter(pk=closed.pk).update(status=MembershipStatus.CLOSED)
    Customer.objects.filter(pk=anonymised.customer_id).update(anonymized_at=now)
    make_member(ProgramFactory(), {}, tier=None)  # a member of another program

    assert matching(program, now) == {active.pk}


# --- Tier ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        (Op.IS, {"Silber"}),
        (Op.IS_NOT, {"Bronze", "Gold", "Platin", "none"}),
        (Op.AT_LEAST, {"Silber", "Gold", "Platin"}),
        (Op.AT_MOST, {"Bronze", "Silber", "none"}),
    ],
)
def test_tier_compares_by_rank(program, tiers, member, now, operator, expected):
    members = {name: member(tier=name) for name in tiers}
    members["none"] = member(tier=None)

    found = matching(program, now, cond(F.TIER, operator, tier=tiers["Silber"]))

    assert found == pks(members, *expected)


# --- Figures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        (Op.IS, "50", {"50"}),
        (Op.IS_NOT, "50", {"30", "70.25"}),
        (Op.AT_LEAST, "50", {"50", "70.25"}),
        (Op.AT_MOST, "50", {"30", "50"}),
        (Op.IS, "70,25", {"70.25"}),
    ],
)
def test_engagement_never_matches_members_without_a_score(
    program, member, now, operator, value, expected
):
    members = {}
    for score in ("30", "50", "70.25"):
        members[score] = member()
        figures(members[score], engagement_score=score)
    figures(member(), predicted_clv="10")  # figures, but no score yet
    member()  # no figures at all

    assert matching(program, now, cond(F.ENGAGEMENT, operator, value)) == pks(members, *expected)


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        (Op.IS, "yes", {"risk"}),
        (Op.IS, "Nein", {"safe"}),
        (Op.IS_NOT, "ja", {"safe"}),
        (Op.IS_NOT, "no", {"risk"}),
    ],
)
def test_churn_risk_is_a_yes_or_no_flag(program, member, now, operator, value, expected):
    members = {"risk": member(), "safe": member()}
    figures(members["risk"], churn_risk=True)
    figures(members["safe"], churn_risk=False)
    figures(member(), engagement_score="40")  # not flagged either way yet
    member()

    assert matching(program, now, cond(F.CHURN_RISK, operator, value)) == pks(members, *expected)


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        (Op.AT_LEAST, "50", {"0.5", "0.8"}),
        (Op.AT_MOST, "25", {"0.25"}),
        (Op.IS, "80", {"0.8"}),
        (Op.IS_NOT, "50", {"0.25", "0.8"}),
    ],
)
def test_probability_alive_is_compared_in_per_cent(program, member, now, operator, value, expected):
    members = {}
    for probability in ("0.25", "0.5", "0.8"):
        members[probability] = member()
        figures(members[probability], probability_alive=probability)
    member()

    found = matching(program, now, cond(F.PROBABILITY_ALIVE, operator, value))

    assert found == pks(members, *expected)


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        (Op.AT_LEAST, "200", {"high"}),
        (Op.AT_MOST, "200", {"low"}),
        (Op.IS, "250,50", {"high"}),
        (Op.IS_NOT, "100", {"high"}),
    ],
)
def test_predicted_clv(program, member, now, operator, value, expected):
    members = {"low": member(), "high": member()}
    figures(members["low"], predicted_clv="100.00")
    figures(members["high"], predicted_clv="250.50")
    member()

    found = matching(program, now, cond(F.PREDICTED_CLV, operator, value))

    assert found == pks(members, *expected)


# --- Purchases ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "days", "expected"),
    [
        (Op.AT_MOST, 3, {"recent"}),
        (Op.AT_MOST, 2, set()),
        (Op.AT_LEAST, 4, {"older", "never", "not_awarded"}),
        (Op.AT_LEAST, 3, {"recent", "older", "never", "not_awarded"}),
        (Op.IS, 40, {"older"}),
        (Op.IS_NOT, 40, {"recent", "never", "not_awarded"}),
    ],
)
def test_days_since_the_last_awarded_purchase(
    program, member, bought, now, operator, days, expected
):
    members = {name: member() for name in ("recent", "older", "never", "not_awarded")}
    bought(members["recent"], days_ago=3.5)  # three whole days ago
    bought(members["recent"], days_ago=50)
    bought(members["older"], days_ago=40.2)
    bought(members["older"], days_ago=100)
    bought(members["not_awarded"], days_ago=1, status=PurchaseStatus.REJECTED)

    found = matching(program, now, cond(F.DAYS_SINCE_PURCHASE, operator, days))

    assert found == pks(members, *expected)


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        (Op.AT_LEAST, 2, {"two"}),
        (Op.AT_MOST, 1, {"one", "old_only", "none"}),
        (Op.IS, 0, {"old_only", "none"}),
        (Op.IS, 1, {"one"}),
        (Op.IS_NOT, 0, {"two", "one"}),
    ],
)
def test_purchases_in_the_last_12_months_count_awarded_ones(
    program, member, bought, now, operator, value, expected
):
    members = {name: member() for name in ("two", "one", "old_only", "none")}
    bought(members["two"], days_ago=10)
    bought(members["two"], days_ago=364)
    bought(members["one"], days_ago=5)
    bought(members["one"], days_ago=366)  # a year and a day ago: not counted
    bought(members["one"], days_ago=6, status=PurchaseStatus.FAILED)
    bought(members["old_only"], days_ago=400)

    found = matching(program, now, cond(F.PURCHASES_12M, operator, value))

    assert found == pks(members, *expected)


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        (Op.AT_LEAST, "100", {"big"}),
        (Op.AT_MOST, "20", {"small", "none"}),
        (Op.IS, "20", {"small"}),
        (Op.IS_NOT, "0", {"big", "small"}),
        (Op.AT_LEAST, "19,5", {"big", "small"}),
    ],
)
def test_spend_in_the_last_12_months_is_net_of_returns(
    program, member, bought, now, operator, value, expected
):
    members = {name: member() for name in ("big", "small", "none")}
    bought(members["big"], "60.00", days_ago=1)
    bought(members["big"], "50.00", days_ago=200)
    bought(members["small"], "30.00", days_ago=2, refunded="10.00")
    bought(members["small"], "500.00", days_ago=3, status=PurchaseStatus.RECEIVED)
    bought(members["none"], "900.00", days_ago=500)

    assert matching(program, now, cond(F.SPEND_12M, operator, value)) == pks(members, *expected)


# --- Points, membership, partner, consent, birthday ---------------------------------------


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        (Op.AT_LEAST, 100, {100, 500}),
        (Op.AT_MOST, 100, {0, 100}),
        (Op.IS, 500, {500}),
        (Op.IS_NOT, 0, {100, 500}),
    ],
)
def test_points_are_the_available_balance(program, member, now, operator, value, expected):
    members = {points: member(balance=points) for points in (0, 100, 500)}

    assert matching(program, now, cond(F.POINTS, operator, value)) == pks(members, *expected)


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        (Op.AT_LEAST, 10, {10, 100}),
        (Op.AT_MOST, 10, {0, 10}),
        (Op.IS, 0, {0}),
        (Op.IS_NOT, 10, {0, 100}),
    ],
)
def test_days_since_joining(program, member, operator, value, expected):
    members = {0: member(), 10: member(joined_days=10.5), 100: member(joined_days=100)}

    found = matching(program, timezone.now(), cond(F.MEMBER_DAYS, operator, value))

    assert found == pks(members, *expected)


@pytest.mark.parametrize(
    ("operator", "expected"), [(Op.IS, {"linked"}), (Op.IS_NOT, {"elsewhere", "unlinked"})]
)
def test_partner_means_linked_to_the_partner(program, partner, member, now, operator, expected):
    members = {name: member() for name in ("linked", "elsewhere", "unlinked")}
    other = PartnerFactory(programs=[program])
    PartnerCustomer.objects.create(
        partner=partner, customer=members["linked"].customer, external_id="a"
    )
    PartnerCustomer.objects.create(
        partner=other, customer=members["elsewhere"].customer, external_id="b"
    )

    found = matching(program, now, cond(F.PARTNER, operator, partner=partner))

    assert found == pks(members, *expected)


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        (Op.IS, "yes", {"agreed"}),
        (Op.IS, "no", {"declined", "never_asked"}),
        (Op.IS_NOT, "Ja", {"declined", "never_asked"}),
        (Op.IS_NOT, "nein", {"agreed"}),
    ],
)
def test_marketing_consent_without_preferences_is_no(
    program, member, now, operator, value, expected
):
    members = {name: member() for name in ("agreed", "declined", "never_asked")}
    customer_preferences_update(members["agreed"].customer, email_marketing=True)
    customer_preferences_update(members["declined"].customer, email_marketing=False)

    found = matching(program, now, cond(F.MARKETING_CONSENT, operator, value))

    assert found == pks(members, *expected)


@pytest.mark.parametrize(
    ("operator", "value", "expected"),
    [
        (Op.IS, 5, {"may"}),
        (Op.IS_NOT, 5, {"december"}),
        (Op.AT_LEAST, 6, {"december"}),
        (Op.AT_MOST, 5, {"may"}),
    ],
)
def test_birthday_month_ignores_unknown_birth_dates(
    program, member, now, operator, value, expected
):
    members = {
        "may": member(birth_date=date(1990, 5, 31)),
        "december": member(birth_date=date(1985, 12, 1)),
        "unknown": member(),
    }

    found = matching(program, now, cond(F.BIRTHDAY_MONTH, operator, value))

    assert found == pks(members, *expected)


# --- Groups, saved segments, counts -------------------------------------------------------


def test_conditions_of_a_group_must_all_hold_and_any_group_will_do(program, tiers, member, now):
    members = {
        "gold_rich": member(tier="Gold", balance=500),
        "gold_poor": member(tier="Gold", balance=10),
        "bronze_agreed": member(tier="Bronze", balance=0),
        "bronze_rich": member(tier="Bronze", balance=900),
    }
    customer_preferences_update(members["bronze_agreed"].customer, email_marketing=True)

    found = matching(
        program,
        now,
        cond(F.TIER, Op.AT_LEAST, tier=tiers["Gold"], group=1),
        cond(F.POINTS, Op.AT_LEAST, 100, group=1),
        cond(F.MARKETING_CONSENT, Op.IS, "yes", group=2),
    )

    assert found == pks(members, "gold_rich", "bronze_agreed")


def saved(program, name, *conditions) -> Segment:
    segment = Segment.objects.create(program=program, name=name)
    for condition in conditions:
        condition.segment = segment
        condition.save()
    return segment


def test_a_saved_segment_and_the_counts_of_many_in_two_queries(program, tiers, member):
    gold, silver, bronze = member(tier="Gold"), member(tier="Silber"), member(tier="Bronze")
    other_program = ProgramFactory()
    make_member(other_program, standard_tiers(other_program))
    high = saved(program, "Hoch", cond(F.TIER, Op.AT_LEAST, tier=tiers["Silber"]))
    everyone = saved(program, "Alle")
    nobody = saved(
        program,
        "Niemand",
        cond(F.POINTS, Op.AT_LEAST, 1, group=1),
        cond(F.MARKETING_CONSENT, Op.IS, "yes", group=2),
        cond(F.DAYS_SINCE_PURCHASE, Op.AT_MOST, 30, group=3),
    )
    elsewhere = saved(other_program, "Anderswo")

    assert set(segment_members(high)) == {gold, silver}
    assert set(segment_members(everyone)) == {gold, silver, bronze}
    with CaptureQueriesContext(connection) as queries:
        counts = segment_member_counts([high, everyone, nobody, elsewhere])
    assert counts == {high.pk: 2, everyone.pk: 3, nobody.pk: 0, elsewhere.pk: 1}
    assert len(queries) == 2


# --- Validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "errors"),
    [
        (cond(F.ENGAGEMENT, Op.AT_LEAST, ""), {"value"}),
        (cond(F.ENGAGEMENT, Op.AT_LEAST, "viel"), {"value"}),
        (cond(F.ENGAGEMENT, Op.AT_LEAST, "101"), {"value"}),
        (cond(F.PROBABILITY_ALIVE, Op.AT_LEAST, "-1"), {"value"}),
        (cond(F.POINTS, Op.AT_LEAST, "1.000"), {"value"}),
        (cond(F.PURCHASES_12M, Op.AT_LEAST, "2,5"), {"value"}),
        (cond(F.BIRTHDAY_MONTH, Op.IS, "13"), {"value"}),
        (cond(F.BIRTHDAY_MONTH, Op.IS, "0"), {"value"}),
        (cond(F.MARKETING_CONSENT, Op.IS, "vielleicht"), {"value"}),
        (cond(F.MARKETING_CONSENT, Op.AT_LEAST, "yes"), {"operator"}),
        (cond(F.CHURN_RISK, Op.AT_MOST, "50"), {"operator", "value"}),
        (cond(F.PARTNER, Op.IS), {"partner"}),
        (cond(F.TIER, Op.AT_LEAST), {"tier"}),
        (cond(F.ENGAGEMENT, Op.AT_LEAST, "12,5"), set()),
        (cond(F.SPEND_12M, Op.AT_LEAST, "10000000000000"), {"value"}),
        (cond(F.BIRTHDAY_MONTH, Op.IS, "12"), set()),
        (cond(F.MARKETING_CONSENT, Op.IS_NOT, "Nein"), set()),
    ],
)
def test_condition_errors_name_the_field_at_fault(program, condition, errors):
    assert set(condition_errors(condition, program=program)) == errors


def test_tier_and_partner_must_belong_to_the_segments_program(program, tiers, partner):
    other = ProgramFactory()
    foreign_tier = standard_tiers(other)["Gold"]
    foreign_partner = PartnerFactory(programs=[other])

    assert condition_errors(cond(F.TIER, Op.IS, tier=foreign_tier), program=program) == {
        "tier": ["Wählen Sie eine Stufe des Programms dieses Segments."]
    }
    assert condition_errors(cond(F.PARTNER, Op.IS, partner=foreign_partner), program=program) == {
        "partner": ["Wählen Sie einen Partner, der am Programm dieses Segments teilnimmt."]
    }
    assert condition_errors(cond(F.TIER, Op.IS, tier=tiers["Gold"]), program=program) == {}
    assert condition_errors(cond(F.PARTNER, Op.IS, partner=partner), program=program) == {}


def test_errors_say_what_to_enter_in_german(program):
    assert condition_errors(cond(F.PARTNER, Op.AT_LEAST, partner=None), program=program) == {
        "operator": ["Dieses Feld kann nur mit „ist“ oder „ist nicht“ verglichen werden."],
        "partner": ["Wählen Sie den Partner."],
    }
    assert condition_errors(cond(F.MARKETING_CONSENT, Op.IS, "vielleicht"), program=program) == {
        "value": ["Geben Sie ja oder nein ein."]
    }
    assert condition_errors(cond(F.POINTS, Op.IS, "1.000"), program=program) == {
        "value": ["Geben Sie eine ganze Zahl ab 0 ein, ohne Trennzeichen."]
    }
    assert condition_errors(cond(F.MEMBER_DAYS, Op.IS, "-3"), program=program) == {
        "value": ["Geben Sie eine ganze Zahl von 0 bis 36500 ein, ohne Trennzeichen."]
    }


def test_a_condition_that_cannot_be_read_is_refused_not_ignored(program, now):
    unreadable = SegmentCondition(field=F.ENGAGEMENT, operator=Op.AT_LEAST, value="viel")

    with pytest.raises(SegmentConditionInvalid):
        conditions_members(program, [unreadable], now=now)
