"""Memory and speed of the staff exports (issue #19): the members export above the
membership list and the ledger export of a period, each of N rows, fetched through the
admin views as a browser would and read to the end. Printed per export: rows, seconds,
rows/s, and the process's resident memory before and at its peak while the file streamed
(the view, the queryset and the writer run in this process, as in a web worker).

    .venv/bin/python -m bench.export_memory

It runs against the bench's database (``DATABASE_URL``, else loyalty_bench, as ``make
bench``; the name must contain "bench") and does not re-create it: after ``make bench``
the data set is there. An empty database is migrated and seeded at ``BENCH_SCALE`` first.
``EXPORT_ROWS``: rows per export (default: the scale's number of customers).
``EXPORT_XLSX=1``: the Excel files too (up to the admin's Excel limit).
Settings: development settings with DEBUG off (no query log growing with the rows).
"""

import json
import os
import sys
import time
from datetime import timedelta

from bench import config


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def log(message: str) -> None:
    print(f"[export {time.strftime('%H:%M:%S')}] {message}", flush=True)


def setup() -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="loyalty_site.settings",
        DATABASE_URL=config.database_url(),
        REDIS_URL=config.redis_url(),
        LOYALTY_VAR_DIR=str(config.VAR_DIR),
        DEBUG="0",
        STAFF_2FA_REQUIRED="0",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()


def seed_if_empty(scale) -> None:
    from django.core.management import call_command
    from django.db import connection

    if "programs_membership" in connection.introspection.table_names():
        from programs.models import Membership

        if Membership.objects.exists():
            return
    log(f"empty database: migrating and seeding at scale {scale.name}")
    call_command("migrate", verbosity=0, interactive=False)
    from bench.seed import Seeder

    Seeder(config.database_url(), scale, log).history()


def measure(client, url: str, query: dict) -> dict:
    """GET ``url`` and read the whole file, sampling the resident memory as it streams."""
    import gc

    gc.collect()
    before = peak = rss_mib()
    started = time.monotonic()
    response = client.get(url, query)
    if response.status_code != 200:
        raise SystemExit(f"{url}: HTTP {response.status_code}")
    size = lines = 0
    for number, chunk in enumerate(response.streaming_content):
        size += len(chunk)
        lines += chunk.count(b"\n")
        if number % 500 == 0:
            peak = max(peak, rss_mib())
    seconds = time.monotonic() - started
    peak = max(peak, rss_mib())
    response.close()
    rows = lines - 1 if response["Content-Type"].startswith("text/csv") else None
    return {
        "rows": rows,
        "bytes": size,
        "seconds": round(seconds, 2),
        "rows_per_s": round(rows / seconds) if rows else None,
        "rss_before_mib": round(before, 1),
        "rss_peak_mib": round(peak, 1),
        "rss_growth_mib": round(peak - before, 1),
    }


def main() -> int:
    scale = config.scale_from_env()
    setup()
    seed_if_empty(scale)
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from programs.admin.export_files import XLSX_MAX_ROWS
    from programs.models import LedgerEntry, Membership, Program

    rows = int(os.environ.get("EXPORT_ROWS") or scale.customers)
    with_xlsx = os.environ.get("EXPORT_XLSX", "").strip() in {"1", "true", "yes"}
    staff, _created = get_user_model().objects.get_or_create(
        username="bench-export", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(staff)
    results: dict = {"scale": scale.name, "rows_asked": rows}

    # Members: the first N memberships of the list, by id (a filter the list accepts).
    ids = Membership.objects.order_by("pk").values_list("pk", flat=True)
    last_id = ids[min(rows, ids.count()) - 1]
    members_url = reverse("admin:programs_membership_export", args=["csv"])
    log(f"members export, CSV, up to id {last_id} ...")
    results["members_csv"] = measure(client, members_url, {"id__lte": last_id})

    # Ledger: the bench program's entries recorded from the first day on, up to the day
    # on which the N-th entry was recorded.
    program = Program.objects.order_by("pk").first()
    entries = LedgerEntry.objects.filter(membership__program=program).order_by("created_at")
    first = timezone.localdate(entries.values_list("created_at", flat=True).first())
    total = entries.count()
    nth = entries.values_list("created_at", flat=True)[min(rows, total) - 1]
    last = timezone.localdate(nth)
    period_url = reverse("admin:programs_ledgerentry_period_export")
    query = {"program": program.pk, "first": first.isoformat(), "last": last.isoformat(),
             "basis": "created_at", "file_format": "csv"}  # fmt: skip
    log(f"ledger export, CSV, {first} to {last} ...")
    results["ledger_csv"] = measure(client, period_url, query)

    if with_xlsx:
        cap = min(rows, XLSX_MAX_ROWS)
        last_id = ids[min(cap, ids.count()) - 1]
        members_xlsx = reverse("admin:programs_membership_export", args=["xlsx"])
        log(f"members export, Excel, {cap} rows ...")
        results["members_xlsx"] = measure(client, members_xlsx, {"id__lte": last_id})
        results["members_xlsx"]["rows"] = cap
        results["members_xlsx"]["rows_per_s"] = round(cap / results["members_xlsx"]["seconds"])
        nth = entries.values_list("created_at", flat=True)[min(cap, total) - 1]
        last = timezone.localdate(nth) - timedelta(days=1)
        log(f"ledger export, Excel, {first} to {last} ...")
        xlsx_rows = entries.filter(created_at__date__lte=last).count()
        results["ledger_xlsx"] = measure(
            client, period_url, {**query, "last": last.isoformat(), "file_format": "xlsx"}
        )
        results["ledger_xlsx"]["rows"] = xlsx_rows
        results["ledger_xlsx"]["rows_per_s"] = round(xlsx_rows / results["ledger_xlsx"]["seconds"])

    for name, figures in results.items():
        if isinstance(figures, dict):
            log(f"{name}: {figures['rows']} rows in {figures['seconds']} s "
                f"({figures['rows_per_s']}/s), RSS {figures['rss_before_mib']} -> "
                f"{figures['rss_peak_mib']} MiB (+{figures['rss_growth_mib']})")  # fmt: skip
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
