"""Nightly snapshots hold exact counts; the dashboard reads only them, in few queries."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from programs.models import PartnerCustomer
from surveys.models import CohortSnapshot, MetricSnapshot
from surveys.selectors import Filters, metric_periods
from surveys.services.invitations import invitation_create
from surveys.services.responses import response_submit
from surveys.services.snapshots import snapshots_build
from tests.factories import engagement_scored

pytestmark = pytest.mark.django_db
DASHBOARD = "/admin/surveys/metricsdashboard/"
# session, user, form choices, snapshots (periods, window, points, stocks, cohorts,
# retention, breakage history, programs): a constant, whatever the data
DASHBOARD_QUERIES = 18


def at(year, month, day=15):
    return timezone.make_aware(datetime(year, month, day, 12))


@pytest.fixture
def answered(nps_survey, member, partner):
    """NPS answers: Jan 2026: 10, 9, 3 (one via the partner); Feb 2026: 7, 0."""

    def answer(score, when, *, via_partner=False):
        membership = member()
        invitation = invitation_create(
            survey=nps_survey,
            membership=membership,
            channel="staff",
            partner=partner if via_partner else None,
            now=when - timedelta(hours=1),
        )
        response_submit(invitation_id=invitation.pk, answers={"recommend": score}, now=when)
        return membership

    answer(10, at(2026, 1, 5), via_partner=True)
    answer(9, at(2026, 1, 20))
    answer(3, at(2026, 1, 28))
    answer(7, at(2026, 2, 3))
    answer(0, at(2026, 2, 20))


def test_snapshot_counts_and_exact_quarter_reaggregation(answered, partner):
    snapshots_build(months=None, now=at(2026, 3, 1))
    rows = MetricSnapshot.objects.filter(partner=None)
    jan = rows.filter(period="2026-01-01")
    assert sum(r.nps_promoters for r in jan) == 2
    assert sum(r.nps_detractors for r in jan) == 1
    assert sum(r.points_issued for r in jan) == 150  # 3 x 50 survey points
    # the partner invited one of them, but linked none: none is the partner's member
    partner_rows = MetricSnapshot.objects.filter(partner=partner, period="2026-01-01")
    assert sum(r.nps_promoters for r in partner_rows) == 0
    today = at(2026, 3, 1).date()
    months = metric_periods(Filters(months=3), today=today)
    assert [p.label for p in months] == ["2026-01", "2026-02", "2026-03"][: len(months)]
    quarter = metric_periods(Filters(granularity="quarter", months=3), today=today)
    assert [p.label for p in quarter] == ["2026 Q1"]
    result = quarter[0].nps
    # 2 promoters, 1 passive, 2 detractors of 5: NPS 0; 5 answers are too few for a margin
    assert result.score == pytest.approx(0.0)
    assert result.n == 5
    assert result.too_few_answers
    assert result.margin_of_error is None


def test_rebuild_is_idempotent(answered):
    snapshots_build(months=None, now=at(2026, 3, 1))
    first = MetricSnapshot.objects.count()
    snapshots_build(months=None, now=at(2026, 3, 1))
    assert MetricSnapshot.objects.count() == first


def test_member_stocks_and_cohorts(membership, member, buy, partner):
    now = timezone.now()
    PartnerCustomer.objects.create(partner=partner, customer=membership.customer, external_id="x")
    buy(membership, "20.00", occurred_at=now - timedelta(days=300))
    buy(membership, "20.00", occurred_at=now - timedelta(days=250))  # again after 50 days
    other = member()
    buy(other, "20.00", occurred_at=now - timedelta(days=300))
    snapshots_build(now=now)
    stock = MetricSnapshot.objects.filter(partner=None, members__gt=0)
    assert sum(r.members for r in stock) == 2
    assert sum(r.members_dormant for r in stock) == 2  # last activity > 180 days ago
    assert sum(r.points_outstanding for r in stock) == 60
    cohorts = CohortSnapshot.objects.filter(partner=None)
    assert sum(c.customers for c in cohorts) == 2
    assert sum(c.within_30 for c in cohorts) == 0
    assert sum(c.within_90 for c in cohorts) == 1
    assert sum(c.within_365 for c in cohorts) == 1


def test_dashboard_renders_charts_with_bounded_queries(
    admin_client, answered, buy, membership, django_assert_max_num_queries
):
    buy(membership, "30.00")
    snapshots_build(months=None)
    with django_assert_max_num_queries(DASHBOARD_QUERIES):
        reply = admin_client.get(DASHBOARD + "?months=36")
    assert reply.status_code == 200
    html = reply.content.decode()
    assert html.count('class="chart"') == 7
    assert "<polyline" in html  # the NPS line
    assert "Noch keine Engagement-Werte" in html


def test_dashboard_query_count_does_not_grow_with_data(
    admin_client, answered, member, buy, django_assert_max_num_queries
):
    for _ in range(20):
        buy(member(), "10.00")
    snapshots_build(months=None)
    with django_assert_max_num_queries(DASHBOARD_QUERIES):
        assert admin_client.get(DASHBOARD + "?granularity=quarter").status_code == 200


def test_dashboard_chart_csv_export(admin_client, answered):
    snapshots_build(months=None, now=at(2026, 3, 1))
    reply = admin_client.get(DASHBOARD + "?months=36&export=nps")
    assert reply["Content-Type"].startswith("text/csv")
    lines = b"".join(reply.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0] == "period,promoters,passives,detractors,answers,nps,margin_95"
    # January: 2 promoters, 1 detractor of 3: NPS (2 - 1) / 3 = 33.33; 3 < 30 answers:
    # no margin
    assert "2026-01,2,0,1,3,33.33," in lines


def test_dashboard_is_staff_only(client, db):
    reply = client.get(DASHBOARD)
    assert reply.status_code == 302
    assert "/login/" in reply.url


def test_dashboard_filters_and_empty_state(admin_client, program, tiers):
    tier = next(iter(tiers.values()))
    reply = admin_client.get(DASHBOARD, {"program": program.pk, "tier": tier.pk})
    assert reply.status_code == 200
    assert "Noch keine Antworten in dieser Auswahl" in reply.content.decode()


def test_rebuild_button_builds_snapshots(admin_client, answered):
    reply = admin_client.post(DASHBOARD + "rebuild/")
    assert reply.status_code == 302
    assert MetricSnapshot.objects.exists()


def test_response_csv_export_from_the_admin(admin_client, answered):
    from surveys.models import Response

    ids = list(Response.objects.values_list("pk", flat=True))
    reply = admin_client.post(
        "/admin/surveys/response/", {"action": "export_csv", "_selected_action": ids}
    )
    text = b"".join(reply.streaming_content).decode("utf-8-sig")
    lines = text.splitlines()
    assert lines[0].startswith("response_id,submitted_at,status,survey,kind")
    assert len(lines) == 6
    assert {line.split(",")[11] for line in lines[1:]} == {"10", "9", "3", "7", "0"}


def test_segment_send_from_the_admin(admin_client, nps_survey, member):
    member(), member()
    url = f"/admin/surveys/survey/{nps_survey.pk}/segment/"
    assert admin_client.get(url).status_code == 200
    reply = admin_client.post(url, {"tier": "", "partner": ""})
    assert reply.status_code == 302
    from surveys.models import Invitation

    assert Invitation.objects.count() == 2


def test_engagement_distribution_from_the_customers_scores(admin_client, member):
    for score in ["5.00", "19.99", "20.00", "85.50", "100.00"]:
        membership = member()
        engagement_scored(membership, score)
    member()  # no score yet: not counted
    snapshots_build()
    reply = admin_client.get(DASHBOARD + "?export=engagement")
    lines = b"".join(reply.streaming_content).decode("utf-8-sig").splitlines()
    assert lines == [
        "engagement_score,members",
        "0-19,2",
        "20-39,1",
        "40-59,0",
        "60-79,0",
        "80-100,2",
    ]
    html = admin_client.get(DASHBOARD).content.decode()
    assert "Noch keine Engagement-Werte" not in html


def test_a_new_answer_reaches_the_dashboard_within_a_minute(
    nps_survey, member, django_capture_on_commit_callbacks
):
    """The dashboard reads snapshots; an answer schedules a rebuild of the current month
    (eager in tests: the rebuild runs at once), not only the nightly run."""
    from django.core.cache import cache

    cache.delete("surveys:snapshots-refresh")
    invitation = invitation_create(survey=nps_survey, membership=member(), channel="staff")
    with django_capture_on_commit_callbacks(execute=True):
        response_submit(invitation_id=invitation.pk, answers={"recommend": 10})
    this_month = timezone.localdate().replace(day=1)
    rows = MetricSnapshot.objects.filter(partner=None, period=this_month)
    assert sum(r.nps_promoters for r in rows) == 1

    # a second answer within the minute does not rebuild again (the first refresh,
    # scheduled a minute out in production, includes it)
    second = invitation_create(survey=nps_survey, membership=member(), channel="staff")
    with django_capture_on_commit_callbacks(execute=True):
        response_submit(invitation_id=second.pk, answers={"recommend": 3})
    rows = MetricSnapshot.objects.filter(partner=None, period=this_month)
    assert sum(r.nps_detractors for r in rows) == 0


def test_dashboard_figures_use_the_languages_grouping():
    from django.utils import translation

    from surveys.charts import _grouped

    with translation.override("de"):
        assert _grouped(36131) == "36.131"
    with translation.override("en"):
        assert _grouped(36131) == "36,131"
