"""Reading ``timestamptz`` columns with the C-speed ISO parser of the standard library.

Django's PostgreSQL backend replaces psycopg's loader for ``timestamptz`` with a subclass
of psycopg's pure-Python one (so that it can attach the connection's time zone), which
parses every value with regular expressions: about a tenth of the CPU of the award
worker, the batch ingest and expiry, whose rows carry several timestamps each
(docs/benchmarks.md). Django's sessions run in UTC (``USE_TZ``), where PostgreSQL writes
``2026-12-01 21:23:33.123456+00``: ``datetime.fromisoformat`` reads that in C, to the same
value with the same ``tzinfo``. Anything else (another offset, infinity, BC dates, years
past 9999) goes to Django's loader as before.
"""

from datetime import UTC, datetime

from django.db.backends.postgresql.psycopg_any import BaseTzLoader, is_psycopg3
from django.db.backends.signals import connection_created
from django.dispatch import receiver

_parse = datetime.fromisoformat

if is_psycopg3:

    class UtcLoader(BaseTzLoader):
        """Django's ``timestamptz`` loader for a connection whose time zone is UTC."""

        timezone = UTC

        def load(self, data):
            if data[-3:] == b"+00":  # a UTC offset: the value as written is the value
                try:
                    return _parse(bytes(data).decode())
                except ValueError:
                    pass
            return super().load(data)


@receiver(connection_created, dispatch_uid="loyalty_site.timestamps")
def use_utc_loader(sender, connection, **kwargs) -> None:
    """Install ``UtcLoader`` on a new PostgreSQL connection that Django runs in UTC (the
    loader Django checks before each cursor then already has that time zone)."""
    if not is_psycopg3 or connection.timezone != UTC:
        return
    connection.connection.adapters.register_loader("timestamptz", UtcLoader)
