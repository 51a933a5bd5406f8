"""A worker's database backends yield the CPU to those serving web requests, when the server
runs on this machine; a backend that is not the worker's own (behind a pooler or a proxy,
on another machine) is left alone. Real connections to the test server, real processes."""

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from loyalty_site.queues import database_backend_nice_apply


def backend_nice(pid: int) -> int:
    """A process's nice value as the kernel shows it (field 19 of /proc/PID/stat)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def conninfo(**override) -> str:
    """The test database's connection string (``host`` may be a socket directory)."""
    db = connection.settings_dict
    params = {
        "host": db["HOST"],
        "port": db["PORT"] or 5432,
        "user": db["USER"],
        "dbname": db["NAME"],
        **override,
    }
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in params.items() if v})


@pytest.fixture
def open_connections():
    opened = []

    def connect(info: str) -> psycopg.Connection:
        opened.append(psycopg.connect(info, autocommit=True))
        return opened[-1]

    yield connect
    for conn in opened:
        pid = conn.info.backend_pid
        conn.close()
        backend_gone_wait(pid)


def backend_gone_wait(pid: int) -> None:
    """Wait for a closed connection's backend to exit, so the test database can be dropped."""
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def server_socket_directory() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW unix_socket_directories")
        return cursor.fetchone()[0].split(",")[0].strip()


@pytest.mark.django_db
def test_the_backend_of_a_direct_connection_is_lowered(open_connections):
    conn = open_connections(conninfo())
    assert backend_nice(conn.info.backend_pid) == 0
    assert database_backend_nice_apply(conn, 7) == 7
    assert backend_nice(conn.info.backend_pid) == 7
    # Never raised back, and 0 leaves it alone.
    assert database_backend_nice_apply(conn, 3) == 7
    assert database_backend_nice_apply(conn, 0) is None
    assert backend_nice(conn.info.backend_pid) == 7


@pytest.mark.django_db
def test_the_backend_of_a_unix_socket_connection_is_lowered(open_connections):
    conn = open_connections(conninfo(host=server_socket_directory()))
    with socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
        assert sock.family == socket.AF_UNIX
    assert database_backend_nice_apply(conn, 5) == 5
    assert backend_nice(conn.info.backend_pid) == 5


class Forwarder:
    """A TCP port that relays every connection to the database server: a stand-in for a
    pooler or a proxy, whose backend's title names the forwarder's port, not the client's."""

    def __init__(self, upstream: dict):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _upstream(self) -> socket.socket:
        host = self.upstream["host"]
        if host.startswith("/"):
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(f"{host}/.s.PGSQL.{self.upstream['port']}")
            return sock
        return socket.create_connection((host, int(self.upstream["port"])))

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            server = self._upstream()
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            target.close()


@pytest.mark.django_db
def test_a_backend_reached_through_a_proxy_is_left_alone(open_connections):
    db = connection.settings_dict
    forwarder = Forwarder({"host": db["HOST"] or "/var/run/postgresql", "port": db["PORT"] or 5432})
    conn = open_connections(conninfo(host="127.0.0.1", port=forwarder.port))
    assert database_backend_nice_apply(conn, 7) is None
    assert backend_nice(conn.info.backend_pid) == 0


WORKER_PROBE = """
import sys, time
import django
django.setup()
from django.db import connection
from loyalty_site.celery import worker_priority_lower
worker_priority_lower()
connection.ensure_connection()
print(connection.connection.info.backend_pid, flush=True)
time.sleep(30)
"""


@pytest.mark.django_db
def test_a_worker_process_lowers_the_backends_it_opens():
    db = connection.settings_dict
    url = "postgres://{USER}@{host}:{port}/{NAME}".format(
        host=(db["HOST"] or "").replace("/", "%2F"), port=db["PORT"] or 5432, **db
    )
    probe = subprocess.Popen(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", WORKER_PROBE],
        cwd=settings.BASE_DIR,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "loyalty_site.settings",
            "DATABASE_URL": url,
            "WORKER_NICE": "4",
            "WORKER_DATABASE_NICE": "6",
        },
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        pid = int(probe.stdout.readline())
        assert backend_nice(pid) == 6
        assert backend_nice(probe.pid) == 4
    finally:
        probe.kill()
        probe.wait()
    backend_gone_wait(pid)
