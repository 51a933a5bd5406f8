from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty_site.portal.selectors import membership_pending
from programs.models import PointLot, TierMetric
from programs.services.due import points_release_due
from programs.services.memberships import membership_enroll
from tests.factories import ProgramFactory, TierFactory

pytestmark = pytest.mark.django_db


def test_dashboard_shows_balances_tier_and_the_exact_gap_in_german(portal, membership, buy):
    buy(membership, "1380.00", days_ago=20)  # Silber (500)
    buy(membership, "40.00", days_ago=0)  # pending for 14 days; 80 EUR short of Gold (1500)
    points_release_due(timezone.now())
    html = portal.get("/portal/").content.decode()
    assert '<html lang="de">' in html
    assert 'data-testid="available">1.380<' in html  # earned at Bronze: 1 point per euro
    assert 'data-testid="pending">50<' in html  # earned at Silber: x1.25
    assert "Noch 80,00\u00a0EUR Umsatz bis Gold" in html
    assert 'data-testid="tier">Silber<' in html
    available_from = (timezone.localdate() + timedelta(days=14)).strftime("%-d.")
    assert f"verfügbar ab {available_from}" in html
    assert "Ihre Stufe wird am" in html


def test_dashboard_in_english_formats_money_the_english_way(portal, membership, buy):
    buy(membership, "1380.00", days_ago=20)
    html = portal.get("/en/portal/").content.decode()
    assert '<html lang="en">' in html
    assert "120.00\u00a0EUR more to reach Gold" in html
    assert "Your tier is re-evaluated on" in html


def test_points_tiers_speak_of_points(portal, customer, buy):
    program = ProgramFactory(name="Stadtkarte", tier_metric=TierMetric.POINTS, pending_days=0)
    TierFactory(program=program, name="Basis", rank=0, threshold=Decimal(0))
    TierFactory(program=program, name="Plus", rank=1, threshold=Decimal(150))
    membership, _ = membership_enroll(customer=customer, program=program)
    from tests.factories import PartnerFactory

    partner = PartnerFactory(programs=[program])
    from programs.services.purchases import purchase_record

    purchase_record(
        partner=partner,
        membership=membership,
        order_id="S-1",
        amount=Decimal("30.00"),
        currency="EUR",
        occurred_at=timezone.now() - timedelta(minutes=1),
        award_now=True,
    )
    html = portal.get(f"/en/portal/?program={program.slug}").content.decode()
    assert "120 more points to reach Plus" in html


def test_expiring_points_are_listed_with_amount_and_date(portal, membership, buy):
    buy(membership, "100.00", days_ago=20)
    points_release_due(timezone.now())
    soon = timezone.now() + timedelta(days=10)
    PointLot.objects.filter(membership=membership).update(expires_at=soon)
    html = portal.get("/portal/").content.decode()
    assert "Verfallen bald" in html
    assert f"verfallen am {timezone.localtime(soon).day}." in html


def test_program_switcher_shows_the_chosen_program_and_remembers_it(
    portal, membership, customer, buy
):
    second = ProgramFactory(name="Stadtkarte Freiburg", slug="stadtkarte")
    membership_enroll(customer=customer, program=second)
    first = portal.get("/portal/")
    assert 'name="program"' in first.content.decode()
    assert first.context["program"] == membership.program
    switched = portal.get("/portal/?program=stadtkarte")
    assert switched.context["program"] == second
    assert portal.get("/portal/history/").context["program"] == second
    # A slug of a program the customer is not in falls back to a program of theirs.
    other = ProgramFactory(slug="fremd")
    assert portal.get(f"/portal/?program={other.slug}").context["program"] == second


def test_customer_without_membership_sees_a_hint(portal, customer):
    response = portal.get("/portal/")
    assert response.status_code == 200
    assert "noch in keinem Programm Mitglied" in response.content.decode()


def test_dashboard_queries_stay_bounded_with_a_long_history(
    portal, membership, buy, django_assert_max_num_queries
):
    for n in range(60):
        buy(membership, "12.00", days_ago=30 + n)
    points_release_due(timezone.now())
    with django_assert_max_num_queries(14):
        response = portal.get("/portal/")
    assert response.status_code == 200


def _rows_read(sql: str, table: str) -> int:
    """Rows PostgreSQL read from ``table`` running ``sql`` as on a large table (no
    sequential scan, which a test's few rows would get): returned plus filtered out."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
        (plan,) = cursor.fetchone()[0]
        cursor.execute("RESET enable_seqscan")
    nodes, total = [plan["Plan"]], 0
    while nodes:
        node = nodes.pop()
        nodes.extend(node.get("Plans", []))
        if node.get("Relation Name") == table:
            total += node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
    return total


def test_pending_points_read_only_the_members_own_lots_with_stale_statistics(
    membership, other_membership, buy
):
    """Statistics taken while no lot was pending (after a history import or a bulk load)
    must not send the dashboard through every member's pending lots: on the bench's
    300,000 pending lots that cost 20-70 ms a page instead of well under one."""
    for n in range(30):
        buy(other_membership, "10.00", days_ago=30 + n)
    points_release_due(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE programs_pointlot")  # knows of no pending lot
    for n in range(30):
        buy(other_membership, "10.00", days_ago=n % 10)
    buy(membership, "40.00", days_ago=1)
    buy(membership, "20.00")
    with CaptureQueriesContext(connection) as queries:
        pending = membership_pending(membership=membership)
    assert [p["points"] for p in pending] == [40, 20]  # soonest available first
    (query,) = queries.captured_queries
    own_lots = PointLot.objects.filter(membership=membership).count()
    assert _rows_read(query["sql"], PointLot._meta.db_table) <= own_lots


def test_pending_points_of_one_day_are_one_line(portal, membership, buy):
    buy(membership, "10.00", days_ago=2)
    buy(membership, "20.00", days_ago=2)
    buy(membership, "5.00", days_ago=1)
    pending = membership_pending(membership=membership)
    assert [p["points"] for p in pending] == [30, 5]
    days = {
        timezone.localdate(at) for at in PointLot.objects.values_list("available_at", flat=True)
    }
    assert [p["available_on"] for p in pending] == sorted(days)
    html = portal.get("/portal/").content.decode()
    assert html.count("verfügbar ab") == 2
