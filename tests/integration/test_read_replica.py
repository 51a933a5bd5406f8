"""Reads from a real streaming replica (issue 21): partner GETs are served by the replica,
a partner that has just written reads its write from the primary, and a replica that lags
too far or is gone is not read.

The test makes a second PostgreSQL cluster on a free port, a streaming replica of the
server the tests use (``loyalty_site/streaming_replica.py``: ``pg_basebackup -R -X
stream`` of 127.0.0.1:5432, started with ``pg_ctl`` as the ``postgres`` user), after
pytest-django has created the test database, so the replica holds it too. Which database
answered is proven by data: with replay paused on the replica, a row written on the
primary is visible only there. The primary must accept replication connections from
127.0.0.1; when its ``pg_hba.conf`` has no such line, the helper adds one (trust,
127.0.0.1 only, as for ordinary connections), reloads the server, and removes the line
again at the end.
"""

import time
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from loyalty_site.core.db_router import REPLICA_ALIAS, replica_lag_forget
from loyalty_site.streaming_replica import StreamingReplica
from programs.services.api_keys import api_key_create
from tests.factories import PartnerFactory, ProgramFactory, standard_tiers

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def _test_may_use(alias: str):
    """Let the running test case connect to ``alias``, a database added after it started.

    Django's test case refuses a first connection to any alias it does not list; it lists
    the aliases configured when it started. Its guard (a patched ``ensure_connection``)
    reads the list from the test case class, which is found in the guard's closure."""
    guard = BaseDatabaseWrapper.ensure_connection
    names = guard.__code__.co_freevars
    assert "cls" in names, "Django's connection guard has changed: update this helper"
    test_case = guard.__closure__[names.index("cls")].cell_contents
    allowed = test_case.databases
    test_case.databases = frozenset(allowed) | {alias}
    try:
        yield
    finally:
        test_case.databases = allowed


@pytest.fixture
def replica(transactional_db):
    """The replica, configured as the ``replica`` database with the router and the
    middleware; everything is undone at the end, before the test database is flushed."""
    primary = connections["default"].settings_dict
    the_replica = StreamingReplica(
        host=primary["HOST"] or "127.0.0.1",
        port=int(primary["PORT"] or 5432),
        user=primary["USER"] or "postgres",
        dbname=primary["NAME"],
    )
    try:
        the_replica.start()
        config = dict(primary)
        config.update(PORT=the_replica.port, TEST={"MIRROR": "default"}, CONN_MAX_AGE=60)
        config["OPTIONS"] = {**config.get("OPTIONS", {}), "connect_timeout": 2}
        connections.settings[REPLICA_ALIAS] = config
        middleware = list(settings.MIDDLEWARE)
        middleware.insert(
            middleware.index("django.contrib.sessions.middleware.SessionMiddleware"),
            "loyalty_site.core.db_router.ReplicaReadMiddleware",
        )
        replica_lag_forget()
        cache.clear()
        with (
            _test_may_use(REPLICA_ALIAS),
            override_settings(
                MIDDLEWARE=middleware,
                DATABASE_ROUTERS=["loyalty_site.core.db_router.ReplicaRouter"],
                REPLICA_MAX_LAG_SECONDS=60,
                REPLICA_PIN_SECONDS=5,
            ),
        ):
            yield the_replica
    finally:
        if REPLICA_ALIAS in connections.settings:
            connections[REPLICA_ALIAS].close()
            del connections.settings[REPLICA_ALIAS]
            if hasattr(connections._connections, REPLICA_ALIAS):
                delattr(connections._connections, REPLICA_ALIAS)
        replica_lag_forget()
        cache.clear()
        the_replica.remove()


def _client(partner) -> APIClient:
    _, plaintext = api_key_create(partner=partner, name="replica test", scopes=("read", "write"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


def _enroll(client, external_id):
    body = {"email": f"{external_id}@example.com", "programs": ["treue"]}
    response = client.put(f"/api/v1/members/{external_id}", body, format="json")
    assert response.status_code in (200, 201), response.content
    return response


def _get(client, external_id, suffix=""):
    """GET the member (or ``suffix`` of it: "/balance"); which database answered (replica,
    primary) is returned too."""
    with CaptureQueriesContext(connections[REPLICA_ALIAS]) as on_replica:
        response = client.get(f"/api/v1/members/{external_id}{suffix}")
    served = [q for q in on_replica if "pg_is_in_recovery" not in q["sql"]]  # not the lag check
    return response, bool(served)


def test_partner_reads_come_from_the_replica_except_after_its_own_write(replica):
    program = ProgramFactory(slug="treue", name="Treue")
    standard_tiers(program)
    partner = PartnerFactory(slug="webshop", programs=[program])
    # Four keys of one partner: each is a client of its own for read-your-writes.
    setup, reader, writer, other = (_client(partner) for _ in range(4))
    _enroll(setup, "before-replica")

    # Caught up: a GET is answered by the replica, with the row the primary has.
    replica.wait_caught_up()
    response, from_replica = _get(reader, "before-replica")
    assert response.status_code == 200, response.content
    assert from_replica, "a partner GET was not served by the replica"
    # The balance read, one statement in SQL past the ORM, is routed the same way.
    response, from_replica = _get(reader, "before-replica", "/balance")
    assert response.status_code == 200, response.content
    assert from_replica, "the balance read was not served by the replica"

    # Replay paused: a member the writer adds exists on the primary only.
    replica.sql("SELECT pg_wal_replay_pause()")
    _enroll(writer, "new-member")
    response, from_replica = _get(reader, "new-member")
    assert response.status_code == 404, "the reader saw a row the replica does not have"
    assert from_replica

    # Read-your-writes: the writer sees its own member (from the primary).
    response, from_replica = _get(writer, "new-member")
    assert response.status_code == 200, response.content
    assert not from_replica
    response, from_replica = _get(writer, "new-member", "/balance")
    assert response.status_code == 200, response.content
    assert not from_replica

    # The reader writes something itself: its next GETs go to the primary as well.
    _enroll(reader, "readers-own")
    response, from_replica = _get(reader, "new-member")
    assert response.status_code == 200, response.content
    assert not from_replica

    # A replica lagging more than REPLICA_MAX_LAG_SECONDS is not read.
    response, from_replica = _get(other, "new-member")
    assert (response.status_code, from_replica) == (404, True)
    with override_settings(REPLICA_MAX_LAG_SECONDS=1):
        time.sleep(2.5)  # the lag grows while replay stays paused; measured anew
        response, from_replica = _get(other, "new-member")
        assert response.status_code == 200, response.content
        assert not from_replica

    # Replay resumed: the replica shows the member.
    replica.sql("SELECT pg_wal_replay_resume()")
    replica.wait_caught_up()
    replica_lag_forget()
    response, from_replica = _get(other, "new-member")
    assert response.status_code == 200, response.content
    assert from_replica

    # The replica is gone: GETs still answer, from the primary.
    replica.stop()
    for _ in range(3):
        response = other.get("/api/v1/members/new-member")
        assert response.status_code == 200, response.content
    response = other.get("/api/v1/members/readers-own")
    assert response.status_code == 200, response.content
