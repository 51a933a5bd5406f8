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
