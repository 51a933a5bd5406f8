"""The till scenario of docs/api.md ("A visit at the till, start to finish") runs as
written: the very shell block, with curl, against a live server on a fresh database
readied by ``create_partner``. Card lookup, quote, hold with the customer's code,
capture, order, voucher used with the PIN, and a refund that gives half the points
back."""

import os
import re
import shutil
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from programs.models import HoldStatus, PointsHold, Redemption, RedemptionStatus

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- till-scenario -->"

pytestmark = pytest.mark.django_db(transaction=True)


def scenario() -> str:
    text = (ROOT / "docs" / "api.md").read_text()
    found = re.search(re.escape(MARKER) + r"\n```sh\n(.*?)\n```\n", text, re.S)
    assert found, f"docs/api.md has no ```sh block after {MARKER}"
    return found.group(1)


def test_the_documented_till_visit_runs_as_written(live_server):
    out = StringIO()
    call_command(
        "create_partner",
        "--program-name",
        "Kaffee-Treue",
        "--partner-name",
        "Webshop",
        stdout=out,
        stderr=StringIO(),
    )
    db = connection.settings_dict
    env = {
        **os.environ,
        "BASE": f"{live_server.url}/api/v1",
        "KEY": out.getvalue().strip(),
        "PROGRAM": "kaffee-treue",
        # The script prints the customer's code with manage.py, as on the server: same
        # settings and the test's database.
        "DJANGO_SETTINGS_MODULE": "loyalty_site.settings.test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
    }
    result = subprocess.run(  # noqa: S603 - the documented script, as a reader pastes it
        [shutil.which("bash"), "-c", scenario()],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stdout.strip().splitlines()[-1] == "125"  # half the 250 points paid
    hold = PointsHold.objects.get()
    assert (hold.status, hold.points_captured, hold.points_refunded) == (
        HoldStatus.CAPTURED,
        250,
        125,
    )
    voucher = Redemption.objects.get()
    assert voucher.status == RedemptionStatus.USED
    assert voucher.used_by_partner.slug == "webshop"
