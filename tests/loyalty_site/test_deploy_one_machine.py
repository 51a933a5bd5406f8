"""docs/deploy.md followed as written: web (gunicorn) and a worker started from the Procfile
with production settings on the test database, and the API quick start's first calls over
HTTP, as the reverse proxy forwards them (X-Forwarded-Proto: https).

The broker is the test database (no REDIS_URL), so the processes share nothing with other
tests or runs; production uses Redis in the same way through REDIS_URL.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from contextlib import suppress
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from programs.services.api_keys import api_key_create
from programs.services.partner_setup import partner_program_setup
from tests.integration.conftest import worker_database_url

pytestmark = pytest.mark.worker

REPO = Path(settings.BASE_DIR)
START_TIMEOUT = 30
AWARD_TIMEOUT = 30
STOP_TIMEOUT = 20
PASSED_THROUGH = ("PATH", "HOME", "LANG", "TMPDIR")


def procfile() -> dict[str, str]:
    lines = (REPO / "deploy" / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line and not line.startswith("#"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def processes(transactional_db, tmp_path):
    """Start web and worker as the Procfile says; stop both (and their children) after."""
    port = free_port()
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.update(
        DJANGO_SETTINGS_MODULE="loyalty_site.settings.production",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="loyalty.example.com",
        SITE_URL="https://loyalty.example.com",
        DATABASE_URL=worker_database_url(),
        EMAIL_URL="locmem://",
        LOYALTY_VAR_DIR=str(tmp_path),
        LOYALTY_PYTHON=sys.executable,
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        WORKER_CONCURRENCY="1",
        PYTHONUNBUFFERED="1",
    )
    started = {}
    for name in ("web", "worker"):
        log = (tmp_path / f"{name}.log").open("wb")
        started[name] = subprocess.Popen(  # noqa: S602 - the Procfile's line, as a process manager runs it
            procfile()[name], shell=True, cwd=REPO, env=env, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def logs() -> str:
        return "\n".join(
            f"--- {name} ---\n{(tmp_path / f'{name}.log').read_text(errors='replace')[-3000:]}"
            for name in started
        )

    try:
        deadline = time.monotonic() + START_TIMEOUT
        while " ready." not in (tmp_path / "worker.log").read_text(errors="replace"):
            assert time.monotonic() < deadline, f"the worker did not start\n{logs()}"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", logs
    finally:
        for process in started.values():
            stop(process.pid)


def stop(group: int) -> None:
    """SIGTERM the process group (the shell, gunicorn or celery, and their children) as a
    process manager does; SIGKILL what is left after the warm shutdown time."""
    with suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        with suppress(ChildProcessError):
            os.waitpid(-group, os.WNOHANG)  # reap the shell, our child
        time.sleep(0.1)
    with suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def test_quick_start_against_gunicorn_and_a_worker(processes):
    base, logs = processes
    setup = partner_program_setup(
        program_slug="kaffee-treue",
        program_name="Kaffee-Treue",
        partner_slug="webshop",
        partner_name="Webshop",
        currency="EUR",
    )
    _key, plaintext = api_key_create(partner=setup.partner, name="deploy", scopes=["read", "write"])
    api = httpx.Client(
        base_url=f"{base}/api/v1",
        headers={
            "Authorization": f"Bearer {plaintext}",
            "Host": "loyalty.example.com",
            "X-Forwarded-Proto": "https",  # what the reverse proxy adds
        },
        timeout=10,
    )
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            health = httpx.get(f"{base}/healthz", headers={"Host": "loyalty.example.com"})
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"gunicorn did not answer\n{logs()}"
            time.sleep(0.2)
    assert health.status_code == 200, f"{health.text}\n{logs()}"

    enrolled = api.put(
        "/members/qs-1001",
        json={"email": "lena@example.com", "first_name": "Lena", "programs": ["kaffee-treue"]},
    )
    assert enrolled.status_code == 201, f"{enrolled.text}\n{logs()}"
    purchase = api.post(
        "/purchases",
        headers={"Idempotency-Key": "order-A-100234"},
        json={"member": "qs-1001", "order_id": "A-100234", "amount": "23.90"},
    )
    assert purchase.status_code == 202, f"{purchase.text}\n{logs()}"
    assert purchase.json()["status"] == "received"

    # The worker awards it: 23.90 EUR x 1 point per euro, rounded down = 23 points, pending
    # for the 14-day return window.
    deadline = time.monotonic() + AWARD_TIMEOUT
    while api.get(f"/purchases/{purchase.json()['id']}").json()["status"] != "awarded":
        assert time.monotonic() < deadline, f"the purchase was not awarded\n{logs()}"
        time.sleep(0.2)
    balance = api.get("/members/qs-1001/balance").json()["programs"][0]
    assert (balance["available"], balance["pending"]) == (0, 23)
    assert balance["tier"]["name"] == "Bronze"
