"""The members import (issue #19) at the bench's scale: a members CSV of N rows (N = the
scale's number of customers: 1,000,000 at ``large``), as a German spreadsheet writes it
(``;``, UTF-8 with BOM, opening balances with the day earned and the expiry), through
the engine's own functions in one process with the production settings, as the worker
runs them: ``import_create`` with a file object (stores the file in parts),
``import_check`` (the dry run; its time includes the upload), ``import_confirm`` and
``import_commit`` (which runs the dry run once more, then writes chunks of 1,000 rows).
Next to it, in the same run, a raw ``COPY`` of the same N rows into a scratch table with
similar columns: the limit the rows/s are compared with. Peak RSS is the process's
high-water mark (``VmHWM``).

Run as ``python -m bench.imports``; prints one JSON line. ``run_module`` also runs other
measurements that print their result as a JSON line (``bench.export_memory``).
"""

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta

from bench import config
from bench.config import BASE_DIR

HEADER = "Kundennummer;E-Mail;Vorname;Nachname;Sprache;Newsletter;Stufe;Punktestand;" + (
    "Gesammelt am;Verfall"
)
FIRST = ("Anna", "Jörg", "Chloé", "Günther", "Lena", "Mehmet", "Ines", "Ole", "Maya", "Tom")
LAST = ("Müller", "Schäfer", "Weiß", "Keller", "Vogel", "Brandt", "Hofmann", "Nowak")
SCRATCH = """
DROP TABLE IF EXISTS bench_raw_import;
CREATE TABLE bench_raw_import (
    id bigserial PRIMARY KEY,
    external_id varchar(100) NOT NULL UNIQUE,
    email varchar(254) NOT NULL,
    first_name varchar(150) NOT NULL,
    last_name varchar(150) NOT NULL,
    language varchar(8) NOT NULL,
    email_marketing boolean NOT NULL,
    tier varchar(60) NOT NULL,
    opening_balance integer NOT NULL,
    earned_at date NOT NULL,
    expires_at date NOT NULL
)
"""


def run_module(module: str, env: dict, cap: float, extra_env: dict | None = None) -> dict:
    """``python -m <module>`` in a process of its own, cut off after ``cap`` seconds; its
    last JSON line as the result."""
    started = time.monotonic()
    try:
        done = subprocess.run(  # noqa: S603 - our interpreter, our arguments
            [sys.executable, "-m", module],
            cwd=BASE_DIR,
            env={**env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=cap,
        )
    except subprocess.TimeoutExpired:
        return {"cut_off_after_s": cap}
    answer = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not answer:
        return {"error": (done.stderr or done.stdout)[-2000:]}
    result = json.loads(answer[-1])
    result["process_wall_s"] = round(time.monotonic() - started, 2)
    return result


def memory_mib(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def rows(count: int, tiers: list[str], seed: int = 19):
    """The N rows as values: (id, e-mail, first, last, language, newsletter, tier,
    balance, earned, expires)."""
    rng = random.Random(seed)
    today = datetime.now(UTC).date()
    for i in range(1, count + 1):
        yield (
            f"imp-{i}",
            f"imp{i}@bench.invalid",
            rng.choice(FIRST),
            rng.choice(LAST),
            "de" if rng.random() < 0.8 else "en",
            rng.random() < 0.4,
            rng.choice(tiers),
            rng.randint(0, 5000),
            today - timedelta(days=rng.randint(1, 365)),
            date(today.year + 4, 12, 31),
        )


def write_csv(path: str, count: int, tiers: list[str]) -> int:
    with open(path, "w", encoding="utf-8-sig", newline="") as file:
        file.write(HEADER + "\r\n")
        for r in rows(count, tiers):
            balance = f"{r[7]:,}".replace(",", ".")
            file.write(
                f"{r[0]};{r[1]};{r[2]};{r[3]};{r[4]};{'ja' if r[5] else 'nein'};{r[6]};"
                f"{balance};{r[8]:%d.%m.%Y};{r[9]:%d.%m.%Y}\r\n"
            )
    return os.path.getsize(path)


def raw_copy(count: int, tiers: list[str]) -> float:
    """Seconds for one COPY of the same rows (already parsed) into the scratch table."""
    import psycopg

    dsn = config.database_url().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in SCRATCH.split(";"):
            if statement.strip():
                conn.execute(statement)
    columns = ("external_id, email, first_name, last_name, language, email_marketing, tier, "
               "opening_balance, earned_at, expires_at")  # fmt: skip
    with psycopg.connect(dsn) as conn:
        started = time.monotonic()
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY bench_raw_import ({columns}) FROM STDIN") as copy,
        ):
            for r in rows(count, tiers):
                copy.write_row(r)
        conn.commit()
        return time.monotonic() - started


def main() -> int:
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from loyalty_site.celery import app
    from programs.imports.commits import import_commit, import_confirm
    from programs.imports.dry_runs import import_check
    from programs.imports.uploads import import_create
    from programs.models import ImportJob, ImportStatus, Program

    count = int(os.environ.get("IMPORT_ROWS") or config.scale_from_env().customers)
    program = Program.objects.get(slug="bench")
    partner = program.partners.order_by("pk").first()
    tiers = list(program.tiers.order_by("rank").values_list("name", flat=True))
    staff, _created = get_user_model().objects.get_or_create(
        username="bench-import", defaults={"is_staff": True, "is_superuser": True}
    )
    ImportJob.objects.filter(partner=partner, file_name="bench-mitglieder.csv").delete()
    rss_start = memory_mib("VmRSS")
    result: dict = {"rows": count}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "mitglieder.csv")
        result["file_bytes"] = write_csv(path, count, tiers)
        started = time.monotonic()
        with open(path, "rb") as file:
            job = import_create(
                kind="members",
                partner=partner,
                program=program,
                file=file,
                file_name="bench-mitglieder.csv",
                user=staff,
            )
        result["upload_s"] = round(time.monotonic() - started, 2)
    # A file above the inline size is checked by the worker: here, in this process. (A
    # small one was checked inside ``import_create``: the dry run is upload + check.)
    started = time.monotonic()
    import_check(job.pk)
    check_s = result["upload_s"] + time.monotonic() - started
    job.refresh_from_db()
    if job.status != ImportStatus.CHECKED or job.rows_error:
        print(json.dumps({**result, "error": f"dry run: {job.status} {job.message} "
                          f"{job.rows_error} bad rows"}))  # fmt: skip
        return 1
    job = import_confirm(job, digest=job.plan_digest)
    started = time.monotonic()
    import_commit(job.pk)
    job.refresh_from_db()
    # A large file is written in time slices, each re-enqueued by the one before it (a
    # million rows: about four); here they run one after the other in this process.
    while job.status == ImportStatus.COMMITTING:
        import_commit(job.pk)
        job.refresh_from_db()
    commit_s = time.monotonic() - started
    app.control.purge()  # the check and commit messages nobody needs: done here
    if job.status != ImportStatus.DONE:
        print(json.dumps({**result, "error": f"import: {job.status} {job.message}"}))
        return 1
    copy_s = raw_copy(count, tiers)
    result.update(
        check_s=round(check_s, 2),
        check_per_s=round(count / check_s, 1),
        commit_s=round(commit_s, 2),
        commit_per_s=round(count / commit_s, 1),
        rows_done=job.rows_done,
        points=job.summary.get("points"),
        copy_s=round(copy_s, 3),
        copy_per_s=round(count / copy_s, 1),
        rss_start_mib=rss_start,
        rss_peak_mib=memory_mib("VmHWM"),
    )
    result["check_ratio"] = round(result["check_per_s"] / result["copy_per_s"], 4)
    result["commit_ratio"] = round(result["commit_per_s"] / result["copy_per_s"], 4)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
