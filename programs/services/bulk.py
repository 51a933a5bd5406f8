"""Writing many rows back at once, for the batch paths (``programs.services.awarding``)."""

import json
from collections.abc import Sequence
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
    """Write ``fields`` of ``objs`` back, one statement per table: on PostgreSQL an
    ``UPDATE ... FROM jsonb_to_recordset(...)`` (no per-row CASE, so linear in the rows),
    elsewhere Django's ``bulk_update``."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, list(fields), batch_size=500)
        return
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    records = [
        {
            "id": obj.pk,
            **{f.column: getattr(obj, f.attname) for f in columns},
        }
        for obj in objs
    ]
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


_AS_IS = {
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "DateTimeField",
    "DecimalField",
    "ForeignKey",
    "IntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SmallIntegerField",
    "TextField",
    "UUIDField",
}


def _as_is(_field, value):
    return value


def _prep(field, value):
    return field.get_db_prep_save(value, connection)


def rows_insert(model: type[Model], objs: Sequence[Model]) -> None:
    """Insert ``objs`` and set their primary keys, as ``bulk_create`` does: on PostgreSQL
    with ``COPY`` (ids reserved from the table's sequence in one query first), which costs
    a fraction of a many-row ``INSERT`` for the award path's thousands of rows; elsewhere
    ``bulk_create``. No signals, as with ``bulk_create``."""
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=500)
        return
    meta = model._meta
    quote = connection.ops.quote_name
    fields = [f for f in meta.concrete_fields if not f.generated]
    # psycopg writes ints, strings, Decimals, UUIDs and aware datetimes as they are; only
    # other types (JSON) need the field's own conversion (the slow part of bulk_create).
    preps = [(f, _as_is if f.get_internal_type() in _AS_IS else _prep) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [meta.db_table, meta.pk.column, len(objs)],
        )
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            # as bulk_create: foreign keys to objects saved just before (an entry's new id
            # into its lot's earn_entry_id), and an error for one still unsaved
            obj._prepare_related_fields_for_save(operation_name="rows_insert")
            obj.pk = pk
        columns = ", ".join(quote(f.column) for f in fields)
        with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row([prep(f, f.pre_save(obj, add=True)) for f, prep in preps])
    for obj in objs:
        obj._state.adding = False
        obj._state.db = connection.alias
