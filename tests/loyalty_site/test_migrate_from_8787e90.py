"""A database at the schema of 8787e90 (before the apps were re-layered) migrates forward
with every point, balance and moved row where it was.

``data/schema_8787e90.sql.gz`` is ``pg_dump --inserts`` of that commit's demo data (with an
engagement recompute and the metric snapshots): 388 memberships, 3,306 ledger entries, 182
notifications and 388 engagement scores, the last two in tables whose models have moved
to other apps since (the scores into the memberships' figures). The test loads it into a
database of its own, reads the ledger sums, runs today's migrations in a separate
process, and reads them again.
"""

import gzip
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from psycopg import sql

DUMP = Path(__file__).parent / "data" / "schema_8787e90.sql.gz"

FIGURES = {
    "ledger sums": """
        SELECT membership_id, kind, sum(points), sum(pending_points), count(*)
        FROM programs_ledgerentry GROUP BY 1, 2 ORDER BY 1, 2""",
    "cached balances": """
        SELECT id, balance, debt, pending, lifetime_earned, tier_id
        FROM programs_membership ORDER BY id""",
    "lots": "SELECT id, points, remaining, expires_at FROM programs_pointlot ORDER BY id",
    "notifications": """
        SELECT id, customer_id, membership_id, kind, email_state
        FROM customers_notification ORDER BY id""",
    "engagement": """
        SELECT membership_id, score, churn_risk, recency, redemptions, computed_at,
               recent_scores, recent_scores_day
        FROM customers_engagementscore ORDER BY 1""",
}
# Where each figure is read after the migrations, when its rows moved to another table.
MOVED = {
    "engagement": """
        SELECT membership_id, engagement_score, churn_risk, engagement_recency,
               engagement_redemptions, engagement_computed_at, engagement_window,
               engagement_window_day
        FROM programs_membershipfigures WHERE engagement_computed_at IS NOT NULL ORDER BY 1""",
}


# Entries whose backfilled effective_at is not what the services write today (all 0), and
# the earn entries of purchases dated before the day the dump's demo was loaded.
BUSINESS_TIMES_SQL = {
    "purchase earn or return not at the purchase's date": """
        SELECT count(*) FROM programs_ledgerentry e
        JOIN programs_purchase p ON p.id = e.purchase_id
        WHERE e.kind IN ('earn', 'reverse') AND e.effective_at <> p.occurred_at""",
    "earn not at its lot's date": """
        SELECT count(*) FROM programs_ledgerentry e
        JOIN programs_pointlot l ON l.earn_entry_id = e.id
        WHERE e.kind = 'earn' AND e.effective_at <> l.earned_at""",
    "other entry not at its recording": """
        SELECT count(*) FROM programs_ledgerentry
        WHERE kind NOT IN ('earn', 'reverse') AND effective_at <> created_at""",
    "purchase earns dated a day or more before their recording": """
        SELECT count(*) > 0 FROM programs_ledgerentry
        WHERE kind = 'earn' AND purchase_id IS NOT NULL
            AND effective_at < created_at - interval '1 day'""",
}
BUSINESS_TIMES = {
    "purchase earn or return not at the purchase's date": 0,
    "earn not at its lot's date": 0,
    "other entry not at its recording": 0,
    "purchase earns dated a day or more before their recording": True,
}


def _business_times(url: str) -> dict:
    with psycopg.connect(url) as conn:
        return {
            label: conn.execute(query).fetchone()[0] for label, query in BUSINESS_TIMES_SQL.items()
        }


def _url(name: str) -> str:
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = quote(db["HOST"] or "", safe="")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{name}"


@pytest.fixture
def legacy_database():
    name = f"legacy_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(_url(name), autocommit=True) as conn:
            conn.execute(gzip.decompress(DUMP.read_bytes()).decode())
        yield _url(name)
    finally:
        with psycopg.connect(_url("postgres"), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _figures(url: str, *, moved: bool = False) -> dict[str, list[tuple]]:
    queries = {**FIGURES, **MOVED} if moved else FIGURES
    with psycopg.connect(url) as conn:
        return {label: conn.execute(query).fetchall() for label, query in queries.items()}


def _manage(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "loyalty_site.settings"}
    return subprocess.run(  # noqa: S603 - our own manage.py with our own arguments
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.django_db
def test_the_8787e90_schema_migrates_with_every_sum_unchanged(legacy_database):
    before = _figures(legacy_database)
    assert len(before["cached balances"]) == 388
    assert len(before["notifications"]) == 182
    assert len(before["engagement"]) == 388

    migrated = _manage(legacy_database, "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr[-3000:]

    assert _figures(legacy_database, moved=True) == before
    assert _business_times(legacy_database) == BUSINESS_TIMES
    reconciled = _manage(legacy_database, "reconcile_ledger")
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr[-2000:]
    # The moved rows are read through their new models, and staff permissions followed them.
    shell = _manage(
        legacy_database,
        "shell",
        "--no-imports",
        "-c",
        "from programs.notifications.models import Notification\n"
        "from surveys.engagement.models import EngagementScore\n"
        "from django.contrib.contenttypes.models import ContentType\n"
        "print(Notification.objects.count(), EngagementScore.objects.count(),"
        " ContentType.objects.filter(app_label='customers', model='notification').count(),"
        " ContentType.objects.get(app_label='notifications', model='notification')"
        ".permission_set.count())",
    )
    assert shell.returncode == 0, shell.stderr[-2000:]
    assert shell.stdout.split() == ["182", "388", "0", "4"]
