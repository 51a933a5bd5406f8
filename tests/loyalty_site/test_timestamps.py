"""The UTC timestamp loader reads every value exactly as Django's own loader does."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

moments = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)
)


def _loaders():
    from django.db.backends.postgresql.psycopg_any import BaseTzLoader

    from loyalty_site.timestamps import UtcLoader

    connection.ensure_connection()
    pg = connection.connection
    oid = pg.adapters.types["timestamptz"].oid
    django_loader = type("DjangoUtc", (BaseTzLoader,), {"timezone": UTC})
    return UtcLoader(oid, pg), django_loader(oid, pg)


def _as_text(value: datetime, zone: str = "UTC") -> bytes:
    """What PostgreSQL writes for ``value`` in a session running in ``zone``."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('TimeZone', %s, true)", [zone])
        cursor.execute("SELECT (%s::timestamptz)::text", [value])
        text = cursor.fetchone()[0]
        cursor.execute("SELECT set_config('TimeZone', 'UTC', true)")
    return text.encode()


@pytest.mark.django_db
def test_new_connections_use_it():
    from loyalty_site.timestamps import UtcLoader

    connection.ensure_connection()
    oid = connection.connection.adapters.types["timestamptz"].oid
    with connection.cursor() as cursor:
        assert cursor.cursor.adapters.get_loader(oid, 0) is UtcLoader
        cursor.execute("SELECT TIMESTAMPTZ '2026-12-01 21:23:33.1234+01'")
        (value,) = cursor.fetchone()
    assert value == datetime(2026, 12, 1, 20, 23, 33, 123400, tzinfo=UTC)
    assert value.tzinfo is UTC


@pytest.mark.django_db
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(moment=moments)
def test_reads_what_django_reads(moment):
    fast, django = _loaders()
    text = _as_text(moment.replace(tzinfo=UTC))
    loaded = fast.load(text)
    assert loaded == django.load(text) == moment.replace(tzinfo=UTC)
    assert loaded.tzinfo is UTC


@pytest.mark.django_db
def test_other_offsets_and_special_values_go_to_djangos_loader():
    fast, django = _loaders()
    moment = datetime(2026, 3, 29, 1, 30, tzinfo=UTC) + timedelta(microseconds=7)
    berlin = _as_text(moment, "Europe/Berlin")  # ...+02, as a session in Berlin writes it
    assert not berlin.endswith(b"+00")
    assert fast.load(berlin) == django.load(berlin)
    for special in (b"infinity", b"2026-12-01 21:23:33+00 BC"):
        with pytest.raises(Exception) as django_error:  # noqa: PT011 - whatever Django raises
            django.load(special)
        with pytest.raises(django_error.type):
            fast.load(special)
