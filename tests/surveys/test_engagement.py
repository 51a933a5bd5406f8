"""Engagement scores: the documented formula with hand-computed values, set-based
recompute with a bounded number of queries, history and the churn-risk flag."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from programs.models import Membership
from programs.services.ledger import Actor
from programs.services.memberships import membership_enroll
from programs.services.purchase_refunds import purchase_refund
from surveys.engagement.activity import customer_activity_record
from surveys.engagement.models import EngagementScore, EngagementScoreDay, PortalActivityDay
from surveys.engagement.scores import engagement_recompute, engagement_weights
from surveys.engagement.selectors import customer_engagement, membership_engagement_history
from tests.factories import CustomerFactory, ProgramFactory, StaffFactory
from tests.programs import conftest as engine

program, tiers, partner, membership, buy = (
    engine.program,
    engine.tiers,
    engine.partner,
    engine.membership,
    engine.buy,
)

NOW = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)  # midnight UTC: a visit "today" is 0 days old


@pytest.fixture
def weights(db):
    """Recency, frequency, spend and portal weighted equally; the rest off."""
    w = engagement_weights()
    w.recency = w.frequency = w.monetary = w.portal = Decimal(1)
    w.surveys = w.referrals = w.redemptions = Decimal(0)
    w.half_life_days = 90
    w.frequency_scale, w.monetary_scale, w.portal_scale = Decimal(4), Decimal(200), Decimal(5)
    w.churn_threshold, w.churn_drop, w.churn_drop_days = Decimal(20), Decimal(25), 30
    w.save()
    return w


def date_time(year, month, day):
    return datetime(year, month, day, tzinfo=UTC)


def active_since(member, when):
    Membership.objects.filter(pk=member.pk).update(last_activity_at=when)


def test_formula_with_hand_computed_values(weights, membership, buy):
    ninety_days_ago = NOW - timedelta(days=90)  # one half-life: every weight halves
    buy(membership, "200.00", occurred_at=ninety_days_ago)
    active_since(membership, ninety_days_ago)
    customer_activity_record(membership.customer, "login", at=NOW)

    assert engagement_recompute(now=NOW) == 1
    score = EngagementScore.objects.get(membership=membership)
    assert score.engagement_recency == pytest.approx(0.5)  # 0.5 ** (90 / 90)
    assert score.engagement_frequency == pytest.approx(0.5 / (0.5 + 4))  # one purchase, decayed
    assert score.engagement_monetary == pytest.approx(100 / (100 + 200))  # 200.00 decayed to 100
    assert score.engagement_portal == pytest.approx(1 / (1 + 5))  # one login today
    assert (score.engagement_surveys, score.engagement_referrals, score.engagement_redemptions) == (
        0,
        0,
        0,
    )
    # 100 * (0.5 + 0.1111 + 0.3333 + 0.1667) / 4
    assert score.engagement_score == Decimal("27.78")
    assert score.churn_risk is False
    assert customer_engagement(membership.customer) == Decimal("27.78")


def test_recent_activity_scores_higher_than_old(weights, program, tiers, buy):
    recent, _ = membership_enroll(customer=CustomerFactory(), program=program)
    old, _ = membership_enroll(customer=CustomerFactory(), program=program)
    for member, days in ((recent, 1), (old, 300)):
        buy(member, "50.00", occurred_at=NOW - timedelta(days=days))
        active_since(member, NOW - timedelta(days=days))
    engagement_recompute(now=NOW)
    scores = dict(EngagementScore.objects.values_list("membership_id", "engagement_score"))
    assert scores[recent.pk] > scores[old.pk]


def test_returned_purchases_do_not_count_as_spend(weights, membership, buy):
    kept = buy(membership, "100.00", occurred_at=NOW - timedelta(days=1))
    engagement_recompute(now=NOW)
    with_purchase = EngagementScore.objects.get(membership=membership).engagement_monetary
    assert with_purchase == pytest.approx(99.23 / (99.23 + 200), abs=1e-3)  # 100 * 0.5**(1/90)
    purchase_refund(purchase=kept, refund_id="R-1", amount=Decimal("100.00"), actor=Actor.system())
    engagement_recompute(now=NOW)
    assert EngagementScore.objects.get(membership=membership).engagement_monetary == 0


def test_recompute_runs_a_fixed_number_of_queries(
    weights, program, tiers, buy, django_assert_max_num_queries
):
    def add_members(n):
        for _ in range(n):
            member, _ = membership_enroll(customer=CustomerFactory(), program=program)
            buy(member, "30.00", occurred_at=NOW - timedelta(days=3))

    add_members(2)
    with django_assert_max_num_queries(8):
        assert engagement_recompute(now=NOW) == 2
    add_members(25)
    with django_assert_max_num_queries(8):
        assert engagement_recompute(now=NOW) == 27


def test_history_keeps_one_row_per_membership_and_day(weights, membership):
    engagement_recompute(now=NOW)
    engagement_recompute(now=NOW + timedelta(hours=5))  # same day: replaced
    engagement_recompute(now=NOW + timedelta(days=1))
    history = membership_engagement_history(membership=membership)
    assert [row.day for row in history] == [date(2026, 6, 1), date(2026, 6, 2)]


def test_churn_risk_below_the_threshold(weights, membership):
    engagement_recompute(now=NOW)  # never active: score 0
    score = EngagementScore.objects.get(membership=membership)
    assert score.engagement_score == 0
    assert score.churn_risk is True


def test_churn_risk_on_a_sharp_drop(weights, membership, buy):
    weights.churn_threshold = Decimal(0)  # only the drop can flag
    weights.churn_drop = Decimal(10)
    weights.save()
    buy(membership, "200.00", occurred_at=NOW - timedelta(days=90))
    active_since(membership, date_time(2026, 5, 20))
    engagement_recompute(now=date_time(2026, 5, 20))  # active that day: the best day
    active_since(membership, NOW - timedelta(days=90))
    engagement_recompute(now=NOW)
    best = EngagementScoreDay.objects.get(membership=membership, day=date(2026, 5, 20)).score
    today = EngagementScore.objects.get(membership=membership)
    assert best - today.engagement_score >= 10  # about 37 then, 24 now
    assert today.churn_risk is True
    assert EngagementScoreDay.objects.get(membership=membership, day=date(2026, 6, 1)).churn_risk

    weights.churn_drop = (
        best - today.engagement_score + Decimal("0.01")
    )  # just short of a sharp drop
    weights.save()
    engagement_recompute(now=NOW)
    assert EngagementScore.objects.get(membership=membership).churn_risk is False


def test_customer_score_is_the_best_of_their_memberships(weights, program, tiers, buy):
    customer = CustomerFactory()
    first, _ = membership_enroll(customer=customer, program=program)
    second_program = ProgramFactory()
    membership_enroll(customer=customer, program=second_program)
    active_since(first, NOW - timedelta(days=1))
    engagement_recompute(now=NOW)
    scores = EngagementScore.objects.filter(membership__customer=customer)
    assert customer_engagement(customer) == max(s.engagement_score for s in scores)
    assert customer_engagement(CustomerFactory()) is None


def test_portal_activity_is_counted_per_day_and_kind(db):
    customer = CustomerFactory()
    customer_activity_record(customer, "visit", at=NOW)
    customer_activity_record(customer, "visit", at=NOW + timedelta(hours=1))
    customer_activity_record(customer, "login", at=NOW)
    counts = {(r.kind, r.count) for r in PortalActivityDay.objects.filter(customer=customer)}
    assert counts == {("visit", 2), ("login", 1)}
    with pytest.raises(ValueError, match="activity kind"):
        customer_activity_record(customer, "hack")


def test_admin_edits_weights_and_recomputes(weights, client, membership):
    client.force_login(StaffFactory())
    changelist = reverse("admin:engagement_engagementweights_changelist")
    assert client.get(changelist).status_code == 200
    response = client.post(
        changelist,
        {"action": "recompute_now", "_selected_action": [weights.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert EngagementScore.objects.filter(membership=membership).exists()
    scores = reverse("admin:engagement_engagementscore_changelist")
    assert client.get(scores).status_code == 200
    found = client.get(scores, {"q": membership.customer.email})
    assert [row.pk for row in found.context["cl"].result_list] == [membership.pk]
    assert not client.get(scores, {"q": "nobody@example.org"}).context["cl"].result_list
    detail = reverse("admin:engagement_engagementscore_change", args=[membership.pk])
    page = client.get(detail)
    assert page.status_code == 200
    shown = set(page.context["adminform"].form.base_fields) | set(
        page.context["adminform"].readonly_fields
    )
    assert "engagement_recency" in shown
    assert "predicted_clv" not in shown
