"""A streaming replica of a running PostgreSQL server, in a directory of its own, for the
read-replica integration test and the bench (issue 21); not used by the application.

``pg_basebackup -R -X stream`` copies the primary's whole cluster into a temporary
directory, and ``pg_ctl`` starts the copy as a hot standby on a free port of 127.0.0.1,
with the same major version's binaries from ``/usr/lib/postgresql/<major>/bin``. As root,
both run as the ``postgres`` user, since PostgreSQL refuses to run as root.

The primary must accept replication connections from 127.0.0.1. When its ``pg_hba.conf``
has no such line, ``allow_replication()`` adds one (trust, 127.0.0.1 only, as for ordinary
connections on the machines this runs on) and reloads the server; ``restore_hba()`` takes
it out again.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

HBA_LINE = "host replication all 127.0.0.1/32 trust"
HBA_MARK = "  # added by loyalty_site/streaming_replica.py"
# Settings copied from the primary: a hot standby refuses to start with lower values.
STANDBY_MINIMUMS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


class ReplicaError(RuntimeError):
    pass


def _as_postgres(command: list[str]) -> list[str]:
    """pg_ctl refuses to run as root: run the cluster's commands as ``postgres``."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _run(command: list[str], timeout: float = 1800) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    if done.returncode != 0:
        raise ReplicaError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, what: str, timeout: float = 60, details=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise ReplicaError(f"timed out after {timeout}s waiting for {what}\n{details()}")
        time.sleep(0.1)


class StreamingReplica:
    """A hot standby of the server at ``host``:``port``; ``dbname`` is the database its
    ``sql()`` and ``url`` point at."""

    def __init__(self, *, host: str, port: int, user: str, dbname: str):
        self.primary = {"host": host, "port": port, "user": user, "dbname": dbname}
        major = int(self.primary_sql("SHOW server_version_num")) // 10000
        bins = glob.glob(f"/usr/lib/postgresql/{major}/bin")
        if not bins:
            raise ReplicaError(f"no PostgreSQL {major} binaries under /usr/lib/postgresql")
        self.bin = Path(bins[0])
        self.port = _free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="loyalty-replica-"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.dir.chmod(0o700)
        self.running = False
        self._hba_file: str | None = None

    @property
    def url(self) -> str:
        p = self.primary
        return f"postgres://{p['user']}@127.0.0.1:{self.port}/{p['dbname']}"

    def primary_sql(self, statement: str):
        with psycopg.connect(**self.primary, autocommit=True) as conn:
            row = conn.execute(statement).fetchone()
            return row[0] if row else None

    def sql(self, statement: str):
        """One value from the replica."""
        conninfo = {**self.primary, "host": "127.0.0.1", "port": self.port}
        with psycopg.connect(**conninfo, autocommit=True) as conn:
            row = conn.execute(statement).fetchone()
            return row[0] if row else None

    def allow_replication(self) -> None:
        """Make sure the primary accepts replication connections from 127.0.0.1."""
        rules = "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database)"
        if self.primary_sql(rules + " AND error IS NULL"):
            return
        hba_file = self.primary_sql("SHOW hba_file")
        path = Path(hba_file)
        if not os.access(path, os.W_OK):
            raise ReplicaError(
                f"the PostgreSQL server refuses replication connections and {hba_file} "
                f"cannot be changed from here: add '{HBA_LINE}' there and reload"
            )
        path.write_text(path.read_text().rstrip("\n") + "\n" + HBA_LINE + HBA_MARK + "\n")
        self._hba_file = hba_file
        self.primary_sql("SELECT pg_reload_conf()")
        wait_until(lambda: self.primary_sql(rules), "the primary to load the replication rule")

    def restore_hba(self) -> None:
        if self._hba_file is None:
            return
        path = Path(self._hba_file)
        lines = [line for line in path.read_text().splitlines() if not line.endswith(HBA_MARK)]
        path.write_text("\n".join(lines) + "\n")
        self.primary_sql("SELECT pg_reload_conf()")
        self._hba_file = None

    def start(self, shared_buffers: str = "32MB") -> None:
        p = self.primary
        self.allow_replication()
        _run(
            _as_postgres(
                [
                    str(self.bin / "pg_basebackup"),
                    *("-h", p["host"], "-p", str(p["port"]), "-U", p["user"]),
                    *("-D", str(self.dir), "-R", "-X", "stream", "-c", "fast"),
                ]
            )
        )
        # Debian keeps the configuration outside the data directory: give the copy its own.
        minimums = "".join(
            f"{name} = {self.primary_sql(f'SHOW {name}')}\n" for name in STANDBY_MINIMUMS
        )
        (self.dir / "postgresql.conf").write_text(
            f"hot_standby = on\nshared_buffers = {shared_buffers}\n"
            f"listen_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
            f"port = {self.port}\n{minimums}"
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

    def wait_caught_up(self, timeout: float = 60) -> None:
        """Wait until the replica has replayed everything the primary has written so far."""
        target = self.primary_sql("SELECT pg_current_wal_lsn()::text")
        wait_until(
            lambda: self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"),
            "the replica to replay the primary's writes",
            timeout,
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
            _run(_as_postgres([ctl, "-D", str(self.dir), "-m", "fast", "-w", "stop"]), 300)
            self.running = False

    def remove(self) -> None:
        """Stop the replica, delete its directory and restore the primary's hba file."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.restore_hba()
