"""The partner API's balance read is planned once per connection (a prepared statement),
gives the same figures as unprepared, and errors stay Django's. Against PostgreSQL."""

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty_site.core.prepared import prepared_rows
from programs.balances import partner_member_balances

pytestmark = pytest.mark.django_db
NOW = timezone.now()  # one moment for every read, so their figures compare


def prepared_statements() -> dict[str, int]:
    """This connection's prepared statements: text -> executions planned or reused."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return dict(cursor.fetchall())


def balance_statement_runs() -> int:
    return sum(n for text, n in prepared_statements().items() if "programs_pointlot" in text)


def test_the_balance_read_is_prepared_and_reused(partner, member):
    before = balance_statement_runs()
    first = partner_member_balances(partner=partner, external_id="c-1", now=NOW)
    second = partner_member_balances(partner=partner, external_id="c-1", now=NOW)
    assert first == second
    assert len(first) == 1
    assert balance_statement_runs() == before + 2  # one statement, executed twice


def test_logged_queries_run_unprepared_with_the_same_figures(partner, member):
    prepared = partner_member_balances(partner=partner, external_id="c-1", now=NOW)
    before = balance_statement_runs()
    with CaptureQueriesContext(connection) as queries:
        logged = partner_member_balances(partner=partner, external_id="c-1", now=NOW)
    assert logged == prepared
    assert balance_statement_runs() == before
    assert "c-1" in queries.captured_queries[-1]["sql"]  # the log shows the values


def test_without_prepared_statements_the_read_still_answers(partner, member, monkeypatch):
    """Behind a pooler in transaction mode the settings leave psycopg's threshold off."""
    connection.ensure_connection()
    monkeypatch.setattr(connection.connection, "prepare_threshold", None)
    before = balance_statement_runs()
    assert len(partner_member_balances(partner=partner, external_id="c-1", now=NOW)) == 1
    assert balance_statement_runs() == before


def test_a_failing_prepared_statement_raises_djangos_error():
    with pytest.raises(DataError), transaction.atomic():
        prepared_rows(connection, "SELECT 1 / %(zero)s::int", {"zero": 0})
    assert prepared_rows(connection, "SELECT %(one)s::int", {"one": 1}) == [(1,)]
