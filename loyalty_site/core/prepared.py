"""Statements PostgreSQL plans once per connection, for the hottest reads.

Django sends every statement with its parameters inlined (psycopg's client-side binding)
and prepares none, so PostgreSQL plans each one anew. For the partner API's balance read
the plan cost more than the run: 2.7 ms of planning against 0.4-1.0 ms of execution on the
bench data, four correlated subqueries over six tables (docs/benchmarks.md, "A balance read
planned once"). ``prepared_rows`` sends a statement with server-side binding and asks
psycopg to prepare it: the connection plans it on its first executions, then PostgreSQL
keeps a generic plan for the connection's life.

Settings (``base.py``) set psycopg's ``prepare_threshold`` so high that nothing else is ever
prepared by itself; behind a pooler in transaction mode (``DB_DISABLE_SERVER_SIDE_CURSORS``),
whose backends do not keep a client's prepared statements, they leave it off
(``None``) and ``prepared_rows`` runs the statement unprepared.
"""

import psycopg

PREPARE_ON_REQUEST = 2**31 - 1  # psycopg's prepare_threshold: only statements that ask


class _PreparedCursor(psycopg.Cursor):
    """Server-side binding, every statement prepared."""

    def execute(self, query, params=None, *, prepare=None, binary=None):
        return super().execute(query, params, prepare=True, binary=binary)


def prepared_rows(db, sql: str, params: dict) -> list[tuple]:
    """The rows of ``sql`` (psycopg placeholders: ``%(name)s``) on Django connection ``db``,
    prepared where the connection allows it. Runs through Django's cursor wrapper, so
    errors and execute wrappers behave as for any other query. Where queries are logged
    (``DEBUG``, tests that capture them) it runs unprepared: psycopg keeps no text of a
    prepared execution, and the log shows each statement with its values."""
    with db.cursor() as cursor:  # connects (health check included) and validates as usual
        if db.connection.prepare_threshold is None or db.queries_logged:
            cursor.execute(sql, params)
            return cursor.fetchall()
    with db.make_cursor(_PreparedCursor(db.connection)) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()
