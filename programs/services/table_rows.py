"""Writing many rows of a table at once, for the batch paths (postings and awarding)."""

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Model


class _Encoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, datetime):
            return o.isoformat()  # full precision, unlike DjangoJSONEncoder
        if isinstance(o, Decimal):
            return str(o)
        return super().default(o)


def rows_update(model: type[Model], fields: Sequence[str], objs: Sequence[Model]) -> None:
    """Write ``fields`` of ``objs`` back, one statement per table (``rows_update_values``)."""
    if not objs:
        return
    attnames = [model._meta.get_field(name).attname for name in fields]
    rows_update_values(
        model, fields, [(obj.pk, *[getattr(obj, name) for name in attnames]) for obj in objs]
    )


def rows_update_values(model: type[Model], fields: Sequence[str], rows: Sequence[Sequence]) -> None:
    """Set ``fields`` from ``rows`` (the primary key, then the values in ``fields`` order, as
    stored: ids for foreign keys), one statement per table: an ``UPDATE ... FROM
    jsonb_to_recordset(...)`` (no per-row CASE, so linear in the rows)."""
    if not rows:
        return
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    names = ["id", *[f.column for f in columns]]
    records = [dict(zip(names, row, strict=True)) for row in rows]
    quote = connection.ops.quote_name
    pk_type = meta.pk.rel_db_type(connection)
    shape = ", ".join(
        [f"id {pk_type}"] + [f"{quote(f.column)} {f.db_type(connection)}" for f in columns]
    )
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in columns)
    # Identifiers come from the model's meta; the values travel as one parameter.
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608
        f"FROM jsonb_to_recordset(%s::jsonb) AS v({shape}) WHERE t.{quote(meta.pk.column)} = v.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(records, cls=_Encoder)])


_SEQUENCES: dict[str, str] = {}


def _sequence(cursor, meta) -> str:
    """The table's id sequence, looked up once per process (``pg_get_serial_sequence`` in
    the ``nextval`` call itself would run once per reserved id: four times its cost)."""
    if meta.db_table not in _SEQUENCES:
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [meta.db_table, meta.pk.column])
        _SEQUENCES[meta.db_table] = cursor.fetchone()[0]
    return _SEQUENCES[meta.db_table]


def ids_reserve(model: type[Model], count: int) -> list[int]:
    """``count`` new primary keys of ``model``'s table, for rows inserted later in the same
    transaction. Ids reserved and not used leave gaps, as a rolled-back insert does."""
    if count <= 0:
        return []
    meta = model._meta
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(%s::regclass) FROM generate_series(1, %s)",
            [_sequence(cursor, meta), count],
        )
        return [pk for (pk,) in cursor.fetchall()]


def rows_insert_values(model: type[Model], fields: Sequence[str], rows: Iterable[Sequence]) -> None:
    """Insert ``rows`` (values in ``fields`` order, primary key included, foreign keys as
    ids) into ``model``'s table with ``COPY``, the values as psycopg writes them (ints,
    strings, Decimals, UUIDs, aware datetimes, None: nothing is converted or validated
    here; the table's constraints still are; columns left out get their database default,
    NULL for Django fields)."""
    meta = model._meta
    quote = connection.ops.quote_name
    columns = ", ".join(quote(meta.get_field(name).column) for name in fields)
    sql = f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN"
    # Django's cursor wraps the driver's errors in its own (IntegrityError, OperationalError,
    # ...) for execute(); the COPY goes to the driver's cursor, so wrap them the same way.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(sql) as copy,
    ):
        for row in rows:
            copy.write_row(row)
