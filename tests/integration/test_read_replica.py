"""Reads from a real streaming replica (issue 21): partner GETs are served by the replica,
a partner that has just written reads its write from the primary, and a replica that lags
too far or is gone is not read.

The test makes a second PostgreSQL cluster on a free port, a streaming replica of the
server the tests use (``pg_basebackup -R -X stream`` of 127.0.0.1:5432, started with
``pg_ctl`` as the ``postgres`` user), after pytest-django has created the test database,
so the replica holds it too. Which database answered is proven by data: with replay paused
on the replica, a row written on the primary is visible only there. The primary must
accept replication connections from 127.0.0.1; when its ``pg_hba.conf`` has no such line,
the test adds one (trust, 127.0.0.1 only, as for ordinary connections), reloads the
server, and removes the line again at the end.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from loyalty_site.core.db_router import REPLICA_ALIAS, replica_lag_forget
from programs.services.api_keys import api_key_create
from tests.factories import PartnerFactory, ProgramFactory, standard_tiers

pytestmark = pytest.mark.django_db(transaction=True)

HBA_LINE = "host replication all 127.0.0.1/32 trust"
HBA_MARK = "  # added by tests/integration/test_read_replica.py"
WAIT_TIMEOUT = 60
# Settings copied from the primary: a hot standby refuses to start with lower values.
STANDBY_MINIMUMS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


def _as_postgres(command: list[str]) -> list[str]:
    """pg_ctl refuses to run as root: run the cluster's commands as ``postgres``."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"


def _primary(sql: str):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()[0] if cursor.description else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until(condition, what: str, details=lambda: "") -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {WAIT_TIMEOUT}s waiting for {what}\n{details()}")
        time.sleep(0.1)


def _allow_replication() -> str | None:
    """Make sure the primary accepts replication connections from 127.0.0.1; the hba file
    changed (to be restored), or None when nothing had to change."""
    rules = "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database)"
    if _primary(rules + " AND error IS NULL"):
        return None
    hba_file = _primary("SHOW hba_file")
    path = Path(hba_file)
    assert os.access(path, os.W_OK), (
        f"the PostgreSQL server at 127.0.0.1 refuses replication connections and "
        f"{hba_file} cannot be changed by this test: add '{HBA_LINE}' there and reload"
    )
    text = path.read_text()
    path.write_text(text.rstrip("\n") + "\n" + HBA_LINE + HBA_MARK + "\n")
    assert _primary("SELECT pg_reload_conf()")
    _wait_until(lambda: _primary(rules), "the primary to load the replication rule")
    return hba_file


def _restore_hba(hba_file: str | None) -> None:
    if hba_file is None:
        return
    path = Path(hba_file)
    lines = [line for line in path.read_text().splitlines() if not line.endswith(HBA_MARK)]
    path.write_text("\n".join(lines) + "\n")
    _primary("SELECT pg_reload_conf()")


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


class Replica:
    """A streaming replica of the test server in a directory of its own."""

    def __init__(self):
        major = int(_primary("SHOW server_version_num")) // 10000
        bins = glob.glob(f"/usr/lib/postgresql/{major}/bin")
        assert bins, f"no PostgreSQL {major} binaries under /usr/lib/postgresql"
        self.bin = Path(bins[0])
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="loyalty-replica-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.dir.chmod(0o700)
        self.running = False

    def start(self) -> None:
        primary = connection.settings_dict
        _run(
            _as_postgres(
                [
                    str(self.bin / "pg_basebackup"),
                    *("-h", primary["HOST"], "-p", str(primary["PORT"] or 5432)),
                    *("-U", primary["USER"] or "postgres", "-D", str(self.dir)),
                    *("-R", "-X", "stream", "-c", "fast"),
                ]
            )
        )
        # Debian keeps the configuration outside the data directory: give the copy its own.
        minimums = "".join(f"{name} = {_primary(f'SHOW {name}')}\n" for name in STANDBY_MINIMUMS)
        (self.dir / "postgresql.conf").write_text(
            "hot_standby = on\nshared_buffers = 32MB\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{self.dir}'\nport = {self.port}\n{minimums}"
        )
        (self.dir / "pg_hba.conf").write_text(
            "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        )
        (self.dir / "pg_ident.conf").write_text("")
        if os.geteuid() == 0:
            for path in self.dir.glob("*.conf"):
                shutil.chown(path, "postgres", "postgres")
        ctl = str(self.bin / "pg_ctl")
        _run(_as_postgres([ctl, "-D", str(self.dir), "-l", str(self.dir / "log"), "-w", "start"]))
        self.running = True

    def sql(self, statement: str):
        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            dbname=connection.settings_dict["NAME"],
            autocommit=True,
        ) as conn:
            row = conn.execute(statement).fetchone()
            return row[0] if row else None

    def wait_caught_up(self) -> None:
        """Wait until the replica has replayed everything the primary has written so far."""
        target = _primary("SELECT pg_current_wal_lsn()::text")
        _wait_until(
            lambda: self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"),
            "the replica to replay the primary's writes",
            lambda: self.status(target),
        )

    def status(self, target: str) -> str:
        state = self.sql(
            "SELECT concat_ws(' ', pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn(), "
            "pg_get_wal_replay_pause_state())"
        )
        log = (self.dir / "log").read_text(errors="replace").splitlines()[-20:]
        return f"primary at {target}; replica received, replayed, pause: {state}\n" + "\n".join(log)

    def stop(self) -> None:
        if self.running:
            ctl = str(self.bin / "pg_ctl")
            _run(_as_postgres([ctl, "-D", str(self.dir), "-m", "fast", "-w", "stop"]))
            self.running = False

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def replica(transactional_db):
    """The replica, configured as the ``replica`` database with the router and the
    middleware; everything is undone at the end, before the test database is flushed."""
    hba_file = _allow_replication()
    the_replica = Replica()
    try:
        the_replica.start()
        config = dict(connections.settings["default"])
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
        _restore_hba(hba_file)


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


def _get(client, external_id):
    """GET the member; which database answered (replica, primary) is returned too."""
    with CaptureQueriesContext(connections[REPLICA_ALIAS]) as on_replica:
        response = client.get(f"/api/v1/members/{external_id}")
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
