"""Writing the staff audit log (``AuditEntry``): who did what to which record, with the
values of the changed fields before and after.

Callers: the admin, through ``loyalty_site.core.audited_admin.AuditedAdmin`` (every save,
delete and action of every registered admin), and the services staff use to move points
or tiers (``programs.services.actions.points_adjust``, ``membership_tier_override``), in
their own transaction. Secrets (password hashes, TOTP keys, API key hashes) are logged as
changed, never with their value.

One staff request can reach the log twice for the same write: an operation page calls a
service that logs its change, then the admin's ``log_change``. Inside ``audit_scope()``
(the staff admin site opens one per admin request) the log remembers which records it
wrote, and ``audit_written`` lets the generic record step aside for the precise one.
"""

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from uuid import UUID

from django.db import models
from django.utils import timezone

from loyalty_site.core.models import AuditAction, AuditEntry

# A value that is secret is logged as this, and only when it changed.
SECRET = "********"  # noqa: S105 - a mask, not a password
# What a redaction leaves in place of a personal value.
REDACTED = "[redacted]"
SECRET_NAMES = frozenset({"password", "key", "secret", "token", "pin"})
SECRET_SUFFIXES = ("_hash", "_secret", "_token", "_key")
PLAIN_TYPES = (str, int, float, bool, Decimal, date, datetime, time, timedelta, UUID, list, dict)

Values = dict[str, object]
_written: ContextVar[set[tuple[str, str]] | None] = ContextVar("audit_written", default=None)


def is_secret(name: str) -> bool:
    return name in SECRET_NAMES or name.endswith(SECRET_SUFFIXES)


def _plain(value):
    """A value as the log stores it: JSON-friendly, binary data never copied."""
    if value is None or isinstance(value, PLAIN_TYPES):
        return value
    if isinstance(value, bytes | memoryview):
        return "<binary>"
    return str(value)


def _own_fields(model: type[models.Model]) -> tuple[list, list]:
    """(concrete fields, forward many-to-many fields) of ``model``."""
    fields = model._meta.get_fields()
    concrete = [f for f in fields if f.concrete and not f.many_to_many]
    many = [f for f in fields if f.many_to_many and not f.auto_created]
    return concrete, many


def snapshots(model: type[models.Model], pks: Iterable) -> dict:
    """{pk: (instance, values)} for the rows of ``model`` as the database holds them now;
    values are by field (foreign keys by their id), many-to-many as sorted id lists."""
    pks = [pk for pk in pks if pk is not None]
    if not pks:
        return {}
    concrete, many = _own_fields(model)
    rows = {obj.pk: obj for obj in model._base_manager.filter(pk__in=pks)}
    related: dict = {pk: {field.name: [] for field in many} for pk in rows}
    for field in many:
        pairs = model._base_manager.filter(pk__in=rows).values_list("pk", field.name)
        for pk, other in pairs:
            if other is not None:
                related[pk][field.name].append(other)
    result = {}
    for pk, obj in rows.items():
        values = {f.attname: _plain(getattr(obj, f.attname)) for f in concrete}
        values.update({name: sorted(ids) for name, ids in related[pk].items()})
        result[pk] = (obj, values)
    return result


def values_changed(before: Values, after: Values) -> dict[str, list]:
    """{field: [before, after]} for each field whose value differs. A new record (no
    before) lists its filled fields, a deleted one (no after) what it held."""
    empty = (None, "", [])
    changes = {}
    for name in dict.fromkeys([*before, *after]):
        old, new = before.get(name), after.get(name)
        if old == new or (not before and new in empty) or (not after and old in empty):
            continue
        changes[name] = [SECRET, SECRET] if is_secret(name) else [old, new]
    return changes


def label_of(obj_or_model) -> str:
    return obj_or_model._meta.label_lower


@contextmanager
def audit_scope() -> Iterator[None]:
    """Remember, until the block ends, which records the log has written (one request)."""
    token = _written.set(set())
    try:
        yield
    finally:
        _written.reset(token)


def audit_mark(model_label: str, object_id) -> None:
    """Count a record as logged in this scope (also when its save changed nothing)."""
    written = _written.get()
    if written is not None:
        written.add((model_label, str(object_id)))


def audit_written(model_label: str, object_id) -> bool:
    written = _written.get()
    return written is not None and (model_label, str(object_id)) in written


def audit_record(
    *,
    user,
    action: str,
    obj: models.Model | None = None,
    model: str = "",
    object_id=None,
    object_repr: str | None = None,
    changes: dict | None = None,
    note: str = "",
    customer_id: int | None = None,
) -> AuditEntry:
    """Append one row: ``user`` did ``action`` to ``obj`` (or to the record named by
    ``model`` and ``object_id``, e.g. one already deleted)."""
    if obj is not None:
        model = model or label_of(obj)
        object_id = obj.pk if object_id is None else object_id
        object_repr = str(obj) if object_repr is None else object_repr
    entry = AuditEntry.objects.create(
        actor_id=getattr(user, "pk", None),
        actor_name=user.get_username() if user is not None else "",
        action=str(action),
        model=model,
        object_id=str(object_id),
        object_repr=(object_repr or "")[:200],
        changes=changes or {},
        note=str(note),
        customer_id=customer_id,
    )
    audit_mark(model, object_id)
    return entry


def audit_redact(*, customer_id: int, fields: Iterable[str], values: Iterable[str]) -> int:
    """Redact the personal values in the rows about one customer, keeping the rows: the
    values of ``fields`` and every occurrence of ``values`` (their name, e-mail...) in the
    record's name, the before/after values and the note. Returns the rows redacted."""
    fields = set(fields)
    values = sorted({v for v in values if v and len(v) > 1}, key=len, reverse=True)
    # Whole words only ("Max" is redacted, "Maximum" is not); nothing to look for: no match.
    words = "|".join(rf"(?<!\w){re.escape(value)}(?!\w)" for value in values)
    personal = re.compile(words or "(?!)")

    def clean(text):
        return personal.sub(REDACTED, text) if isinstance(text, str) else text

    now = timezone.now()
    rows = list(AuditEntry.objects.filter(customer_id=customer_id, redacted_at__isnull=True))
    for row in rows:
        row.object_repr = clean(row.object_repr)
        row.note = clean(row.note)
        row.changes = {
            name: [REDACTED if name in fields and v not in (None, "") else clean(v) for v in pair]
            for name, pair in row.changes.items()
        }
        row.redacted_at = now
    AuditEntry.objects.bulk_update(rows, ["object_repr", "note", "changes", "redacted_at"])
    return len(rows)


def audit_entries_about(*, customer_id: int, leave_out: Iterable[str] = ()) -> list[dict]:
    """What staff did to one customer's records, for the customer's data export: when,
    what, to which record, the values before and after and the note, without naming the
    staff member (their data). ``leave_out``: record kinds (``app_label.model``) whose
    values are not handed out this way."""
    entries = (
        AuditEntry.objects.filter(customer_id=customer_id)
        .exclude(model__in=list(leave_out))
        .order_by("at", "id")
    )
    return [
        {
            "at": entry.at,
            "action": str(entry.action_label),
            "record": entry.model,
            "record_name": entry.object_repr,
            "changes": entry.changes,
            "note": entry.note,
        }
        for entry in entries
    ]


__all__ = [
    "REDACTED",
    "SECRET",
    "AuditAction",
    "audit_entries_about",
    "audit_mark",
    "audit_record",
    "audit_redact",
    "audit_scope",
    "audit_written",
    "snapshots",
    "values_changed",
]
