"""Production settings pass Django's deploy checks and refuse to start when misconfigured.

Each test runs ``manage.py`` in a fresh process with a controlled environment, because the
settings are read once at import time. LOYALTY_VAR_DIR points at tmp_path so nothing lands in
the repository's var/.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

REPO = Path(__file__).resolve().parents[2]
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "DATABASE_URL", "REDIS_URL")


def _secret_key() -> str:
    return secrets.token_urlsafe(64)


def _database_url() -> str:
    """The database the tests run on, as a URL (production settings demand one)."""
    db = connection.settings_dict
    host = quote(db["HOST"] or "", safe="")  # a socket directory is percent-encoded
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{quote(db['USER'] or '', safe='')}@{host}{port}/postgres"


def run_manage(tmp_path: Path, *args: str, **overrides: str | None) -> subprocess.CompletedProcess:
    """Run manage.py under production settings; an override of None leaves the variable unset."""
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.setdefault("DATABASE_URL", _database_url())
    env.update(
        DJANGO_SETTINGS_MODULE="loyalty_site.settings.production",
        LOYALTY_VAR_DIR=str(tmp_path),
        PYTHONDONTWRITEBYTECODE="1",
        SECRET_KEY=_secret_key(),
        ALLOWED_HOSTS="loyalty.example.com",
        SITE_URL="https://loyalty.example.com",
        EMAIL_URL="smtp://mailer:secret@mail.example.com:587?tls=1",
    )
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deploy_check_passes_without_warnings(tmp_path):
    result = run_manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output
    assert "System check identified no issues" in output


def test_deploy_check_does_flag_an_insecure_override(tmp_path):
    # The control for the test above: the same command does fail when a security setting is off.
    result = run_manage(
        tmp_path, "check", "--deploy", "--fail-level", "WARNING", SECURE_SSL_REDIRECT="0"
    )
    assert result.returncode != 0
    assert "security.W008" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "secret_key",
    [None, "", "x" * 49],
    ids=["unset", "empty", "too-short"],
)
def test_production_refuses_to_start_without_a_real_secret_key(tmp_path, secret_key):
    result = run_manage(tmp_path, "check", SECRET_KEY=secret_key)
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_production_refuses_to_start_without_a_database_url(tmp_path, value):
    result = run_manage(tmp_path, "check", DATABASE_URL=value)
    assert result.returncode != 0
    assert "ImproperlyConfigured: DATABASE_URL must be set in production" in result.stderr
    assert not (tmp_path / "postgres").exists()  # no embedded server was started


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_production_refuses_to_start_without_allowed_hosts(tmp_path, value):
    result = run_manage(tmp_path, "check", ALLOWED_HOSTS=value)
    assert result.returncode != 0
    assert "ImproperlyConfigured: ALLOWED_HOSTS must list" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SITE_URL", None, "SITE_URL must be the public https:// address"),
        ("SITE_URL", "http://loyalty.example.com", "SITE_URL must be the public https:// address"),
        ("EMAIL_URL", None, "EMAIL_URL must be set in production"),
    ],
)
def test_production_refuses_to_start_without_site_and_mail(tmp_path, name, value, message):
    result = run_manage(tmp_path, "check", **{name: value})
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {message}" in result.stderr


BAD_VALUES = [
    ("EMAIL_URL", "ftp://mail.example.com", "EMAIL_URL scheme 'ftp' is not supported"),
    ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
    ("SECURE_SSL_REDIRECT", "sometimes", "SECURE_SSL_REDIRECT='sometimes' is not a boolean"),
    ("SECURE_HSTS_SECONDS", "-1", "SECURE_HSTS_SECONDS=-1 is below the minimum of 0"),
    ("DB_CONN_MAX_AGE", "forever", "DB_CONN_MAX_AGE='forever' is not a whole number"),
    (
        "DB_DISABLE_SERVER_SIDE_CURSORS",
        "pgbouncer",
        "DB_DISABLE_SERVER_SIDE_CURSORS='pgbouncer' is not a boolean",
    ),
    ("DATABASE_URL", "nonsense://db", "DATABASE_URL is not a valid database URL"),
    ("POINT_VALUE", "one cent", "POINT_VALUE='one cent' is not a decimal number"),
    ("DEFAULT_CURRENCY", "EURO", "DEFAULT_CURRENCY='EURO' is not an ISO 4217 code"),
    (
        "CELERY_TASK_SOFT_TIME_LIMIT",
        "400",
        "CELERY_TASK_SOFT_TIME_LIMIT must be less than CELERY_TASK_TIME_LIMIT",
    ),
    (
        "CELERY_VISIBILITY_TIMEOUT",
        "300",
        "CELERY_VISIBILITY_TIMEOUT must be greater than CELERY_TASK_TIME_LIMIT",
    ),
]


@pytest.mark.parametrize(
    ("name", "value", "message"), [pytest.param(*case, id=case[0]) for case in BAD_VALUES]
)
def test_bad_value_stops_start_up_with_a_clear_message(tmp_path, name, value, message):
    result = run_manage(tmp_path, "check", **{name: value})
    assert result.returncode != 0
    # The last line of the traceback is the one an operator reads: the exception and its message.
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: "), result.stderr
    assert message in last_line


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "False False 2147483647 2147483647"), ("1", "True True None None")],
)
def test_server_side_cursors_can_be_switched_off_for_pgbouncer(tmp_path, value, expected):
    """Behind PgBouncer in transaction pooling mode (docs/deploy.md): for the primary and
    the replica alike; so are the prepared statements of the hottest reads
    (loyalty_site/core/prepared.py), which such a pooler's backends would not keep."""
    show = (
        "from django.db import connections as c; "
        "print(*(c[a].settings_dict['DISABLE_SERVER_SIDE_CURSORS'] for a in c), "
        "*(c[a].settings_dict['OPTIONS'].get('prepare_threshold') for a in c))"
    )
    result = run_manage(
        tmp_path,
        "shell",
        "-c",
        show,
        DB_DISABLE_SERVER_SIDE_CURSORS=value,
        DATABASE_REPLICA_URL=_database_url(),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected  # after the shell's banner
