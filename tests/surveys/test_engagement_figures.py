"""The engagement recompute counts answered surveys only (a declined invitation is not
engagement) and writes every score and churn flag into the per-membership figures
without touching the fitted customer-value figures."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from programs.models import MembershipFigures
from programs.services.figures import MemberValue, figures_value_write
from surveys.engagement.models import EngagementScore, EngagementScoreDay
from surveys.engagement.scores import engagement_recompute, engagement_weights
from surveys.models import Channel
from surveys.services.invitations import invitation_create
from surveys.services.responses import invitation_dismiss, response_submit

NOW = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
NINETY_DAYS_AGO = NOW - timedelta(days=90)  # one half-life


@pytest.fixture
def weights(db):
    """Survey participation only: score = 100 * s / (s + 1), s = decayed answers."""
    w = engagement_weights()
    w.recency = w.frequency = w.monetary = w.portal = w.referrals = w.redemptions = Decimal(0)
    w.surveys = Decimal(1)
    w.half_life_days = 90
    w.surveys_scale = Decimal(1)
    w.churn_threshold, w.churn_drop, w.churn_drop_days = Decimal(20), Decimal(100), 30
    w.save()
    return w


def invite(survey, membership, when):
    return invitation_create(
        survey=survey, membership=membership, channel=Channel.STAFF, now=when - timedelta(hours=1)
    )


def test_a_declined_survey_does_not_raise_the_score(weights, nps_survey, member):
    answering, declining, silent = member(), member(), member()
    answered = invite(nps_survey, answering, NINETY_DAYS_AGO)
    response_submit(invitation_id=answered.pk, answers={"recommend": "9"}, now=NINETY_DAYS_AGO)
    declined = invite(nps_survey, declining, NINETY_DAYS_AGO)
    invitation_dismiss(invitation_id=declined.pk, now=NINETY_DAYS_AGO)

    assert engagement_recompute(now=NOW) == 3
    scores = dict(EngagementScore.objects.values_list("membership_id", "engagement_score"))
    # answered 90 days ago: s = 0.5, 100 * 0.5 / (0.5 + 1) = 33.33
    assert scores[answering.pk] == Decimal("33.33")
    # declined: s = 0, the same as never asked (it scored 33.33 as well before)
    assert scores[declining.pk] == Decimal("0.00")
    assert scores[silent.pk] == Decimal("0.00")


def test_the_recompute_writes_the_figures_and_keeps_the_fitted_ones(weights, nps_survey, member):
    answering, silent = member(), member()
    answered = invite(nps_survey, answering, NOW)
    response_submit(invitation_id=answered.pk, answers={"recommend": "3"}, now=NOW)
    fitted_at = NOW - timedelta(hours=20)
    figures_value_write(
        program_id=answering.program_id,
        values=[MemberValue(answering.pk, Decimal("0.9100"), Decimal("3.20"), Decimal("84.10"))],
        horizon_months=12,
        computed_at=fitted_at,
    )

    engagement_recompute(now=NOW)
    figures = {f.membership_id: f for f in MembershipFigures.objects.all()}
    # answered today: s = 1, 100 * 1 / (1 + 1) = 50.00, not below 20: no churn risk
    assert (figures[answering.pk].engagement_score, figures[answering.pk].churn_risk) == (
        Decimal("50.00"),
        False,
    )
    # no answer: 0.00, below 20: at risk
    assert (figures[silent.pk].engagement_score, figures[silent.pk].churn_risk) == (
        Decimal("0.00"),
        True,
    )
    assert {f.engagement_computed_at for f in figures.values()} == {NOW}
    kept = figures[answering.pk]
    assert (kept.probability_alive, kept.predicted_clv, kept.clv_computed_at) == (
        Decimal("0.9100"),
        Decimal("84.10"),
        fitted_at,
    )

    later = NOW + timedelta(days=1)  # the answer is a day older: s = 0.5 ** (1 / 90)
    engagement_recompute(now=later)
    again = MembershipFigures.objects.get(membership=answering)
    assert again.engagement_computed_at == later
    assert again.engagement_score == Decimal("49.81")  # 100 * 0.99233 / 1.99233
    day = EngagementScoreDay.objects.get(membership=answering, day=timezone.localdate(later))
    assert day.score == again.engagement_score  # the history row written with it
    assert again.predicted_clv == Decimal("84.10")
