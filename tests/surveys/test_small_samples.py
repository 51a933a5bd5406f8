"""Small samples (issue 17, item 7): each member counts once per period, with their latest
answer, on the dashboard and in the API alike; below 30 answers no margin of error is
shown ("zu wenige Antworten"), and from 30 on the margin is the adjusted-Wald one, never
0 and never over 100 points."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from programs.services.memberships import partner_customer_link
from surveys.services.snapshots import snapshots_build
from tests.api.conftest import client_for
from tests.surveys.coalition import answer_record

pytestmark = pytest.mark.django_db
DASHBOARD = "/admin/surveys/metricsdashboard/"


@pytest.fixture
def answered(nps_survey, member, partner):
    """``answered(n)``: n members answer 10 today; one of them answered 0 an hour before,
    which their latest answer replaces. Every member is the partner's."""

    def _answered(n):
        now = timezone.now() - timedelta(minutes=5)
        for k in range(n):
            membership = member()
            partner_customer_link(
                partner=partner, customer=membership.customer, external_id=f"m{k}"
            )
            if k == 0:
                answer_record(nps_survey, membership, now - timedelta(hours=1), 0)
            answer_record(nps_survey, membership, now, 10)
        snapshots_build()

    return _answered


def test_thirty_members_all_promoters_get_a_margin_that_is_not_zero(
    admin_client, answered, partner
):
    answered(30)
    reply = admin_client.get(DASHBOARD)
    nps = reply.context["summary"]["nps"]
    # 30 members, 31 answers: the first member's 0 is replaced by their later 10.
    # n = 30, all promoters: NPS 100. Adjusted Wald: n' = 33, p' = 30.75/33, d' = 0.75/33,
    # Var = p' + d' - (p' - d')^2 = 31.5/33 - (30/33)^2 = 139.5/1089 = 0.128099,
    # SE = 100 * sqrt(0.128099 / 33) = 6.2304, margin = 1.96 * 6.2304 = 12.2116
    assert (nps.n, nps.score) == (30, 100.0)
    assert nps.margin_of_error == pytest.approx(12.2116, abs=1e-4)
    assert "± 12,2" in reply.content.decode()
    cache.clear()
    api = client_for(partner).get("/api/v1/surveys/nps").json()
    assert (api["responses"], api["promoters"], api["detractors"]) == (30, 30, 0)
    assert api["too_few_answers"] is False
    assert api["margin_of_error"] == pytest.approx(12.2116, abs=1e-4)


def test_below_thirty_answers_the_margin_is_not_shown(admin_client, answered, partner):
    answered(29)
    reply = admin_client.get(DASHBOARD)
    nps = reply.context["summary"]["nps"]
    assert (nps.n, nps.score, nps.margin_of_error) == (29, 100.0, None)
    html = reply.content.decode()
    assert "zu wenige Antworten" in html
    assert "±" not in html.split('class="kpis"')[1].split("</div>")[0]  # no margin on NPS
    cache.clear()
    api = client_for(partner).get("/api/v1/surveys/nps").json()
    assert (api["responses"], api["too_few_answers"], api["margin_of_error"]) == (29, True, None)
    assert api["standard_error"] is None


def test_the_counting_rule_is_stated_on_the_dashboard(admin_client, db):
    html = admin_client.get(DASHBOARD).content.decode()
    assert "eine Antwort je Mitglied und Zeitraum" in html
    assert "Unter 30 Antworten" in html
