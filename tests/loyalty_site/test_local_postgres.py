"""The PostgreSQL server a fresh clone runs on: started from the wheel, shared, stoppable."""

import os
import subprocess
import sys

import psycopg
import pytest
from django.conf import settings

from loyalty_site.local_postgres import local_database_url, local_server_stop


@pytest.fixture
def var_dir(tmp_path):
    yield tmp_path
    local_server_stop(tmp_path)


def test_a_fresh_var_dir_gets_a_running_server_with_the_database(var_dir):
    url = local_database_url(var_dir, name="loyalty_probe")

    with psycopg.connect(url) as conn:
        name, version = conn.execute(
            "SELECT current_database(), current_setting('server_version_num')::int"
        ).fetchone()
    assert name == "loyalty_probe"
    assert version >= 150000  # the oldest PostgreSQL the project supports
    assert (var_dir / "postgres" / "PG_VERSION").exists()


def test_a_second_process_finds_the_running_server(var_dir):
    first = local_database_url(var_dir, name="loyalty_probe")
    assert local_database_url(var_dir, name="loyalty_probe") == first


def test_stop_stops_the_server_and_start_brings_it_back(var_dir):
    url = local_database_url(var_dir, name="loyalty_probe")
    assert local_server_stop(var_dir) is True
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2).close()
    assert local_server_stop(var_dir) is False  # nothing left to stop

    with psycopg.connect(local_database_url(var_dir, name="loyalty_probe")) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_the_settings_refuse_a_database_that_is_not_postgresql():
    env = {**os.environ, "DATABASE_URL": "mysql://root@127.0.0.1:3306/loyalty"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr
