"""The database is unreachable: what counts as that, and when to ask callers to come back.

The API answers 503 problem details (``programs/api/middleware.py``), the portal a page of
its own (``loyalty_site/outage.py``); both send ``Retry-After``.
"""

from django.db import InterfaceError, OperationalError

# Connection refused or lost, a server shutting down, a statement cancelled, a deadlock:
# nothing the caller did wrong, and worth trying again shortly.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 30
API_PREFIX = "/api/"


def database_unavailable(exception: BaseException) -> bool:
    return isinstance(exception, DATABASE_UNAVAILABLE)
