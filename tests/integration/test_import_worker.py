"""A members import with a real Celery worker process, Redis and PostgreSQL (not eager):
the worker is SIGKILLed in the middle of the import, and a new worker, sent by the
sweeper once the job looks stale, finishes it from the checkpoint. Every member of the
file ends up imported exactly once, with exactly the file's points.

The file (20,000 members with opening balances, about 1 MB) is larger than what the
upload checks inline, so the dry run runs on the worker too; the import writes chunks of
``CHUNK`` rows, each committed together with the job's checkpoint.
"""

import io
from datetime import timedelta
from importlib import import_module

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from customers.models import Customer
from programs.imports.commits import import_confirm, imports_sweep
from programs.imports.dry_runs import CHUNK, STALE_AFTER
from programs.imports.uploads import import_create
from programs.models import (
    EntryKind,
    ImportJob,
    ImportRowError,
    ImportStatus,
    LedgerEntry,
    Membership,
    PartnerCustomer,
)
from programs.services.due import ledger_drift
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.redis,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]

MEMBERS = 20_000
IMPORT_TIMEOUT = 240  # seconds for a 2-core machine to write 20,000 members


def members_file(count: int) -> tuple[bytes, int]:
    """A German members file (``;``, thousands with a dot) and the sum of its balances.
    Every seventh member has no opening balance."""
    lines = ["Kundennummer;E-Mail;Vorname;Nachname;Newsletter;Punktestand"]
    total = 0
    for n in range(1, count + 1):
        points = 0 if n % 7 == 0 else 50 + (n * 37) % 2950
        total += points
        balance = f"{points:,}".replace(",", ".") if points else ""
        lines.append(
            f"K-{n:05d};mitglied{n}@example.org;Vorname{n};Nachname{n};"
            f"{'ja' if n % 2 else 'nein'};{balance}"
        )
    return ("\n".join(lines) + "\n").encode("utf-8"), total


def program_manager():
    """A staff member in the role Programm-Management, which may import opening balances.
    A worker test flushes the tables afterwards, so the group the roles migrations created
    may be gone: it is made here with the rights those migrations give it."""
    roles = import_module("loyalty_site.migrations.0001_staff_roles")
    imports = import_module("loyalty_site.migrations.0003_import_roles")
    group, _ = Group.objects.get_or_create(name="Programm-Management")
    for rights in (roles.ROLES["Programm-Management"], imports.RIGHTS["Programm-Management"]):
        group.permissions.add(*roles.role_permissions(Permission, rights))
    user = UserFactory(username="planer", is_staff=True)
    user.groups.add(group)
    return user


def job_now(job_id: int) -> ImportJob:
    return ImportJob.objects.get(pk=job_id)


def other_sessions() -> set[int]:
    """Database sessions of this test database besides the test's own: a killed worker's
    connection stays until PostgreSQL notices its client is gone (and rolls it back).
    Sessions other tests of the run left open are there too: compare with those before
    the worker started."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {pid for (pid,) in cursor.fetchall()}


def make_stale(job_id: int) -> None:
    """As a restart after the stale window finds it: the last sign of life long ago."""
    ImportJob.objects.filter(pk=job_id).update(
        heartbeat_at=timezone.now() - STALE_AFTER - timedelta(minutes=3)
    )


def test_worker_killed_mid_import_then_swept_imports_every_member_once(
    workers, broker, program, partner
):
    content, points_total = members_file(MEMBERS)
    assert len(content) > 256 * 1024  # checked on the worker, not inline

    before = other_sessions()
    first = workers.start()
    job = import_create(
        kind="members",
        partner=partner,
        program=program,
        file=io.BytesIO(content),
        file_name="altsystem-mitglieder.csv",
        user=program_manager(),
    )
    assert job.status == ImportStatus.CHECKING
    workers.wait_until(
        lambda: job_now(job.pk).status == ImportStatus.CHECKED,
        "the dry run on the worker",
        timeout=IMPORT_TIMEOUT,
    )
    job = job_now(job.pk)
    assert job.summary["rows"] == MEMBERS
    assert job.summary["errors"] == 0, list(ImportRowError.objects.values_list("message")[:3])
    assert job.summary["actions"] == {"create": MEMBERS}
    assert job.summary["points"] == points_total
    assert not Customer.objects.exists()

    import_confirm(job, digest=job.plan_digest)  # enqueues the import after its commit
    workers.wait_until(
        lambda: 0 < job_now(job.pk).rows_done < MEMBERS - 3 * CHUNK,
        "the first chunks imported",
        timeout=IMPORT_TIMEOUT,
    )
    first.kill()
    workers.wait_until(lambda: other_sessions() <= before, "the killed worker's sessions gone")

    job = job_now(job.pk)
    assert job.status == ImportStatus.COMMITTING
    assert 0 < job.rows_done < MEMBERS, "the worker was not killed mid-way"
    assert job.rows_done % CHUNK == 0
    assert job.line_done == job.rows_done + 1  # the header is line 1
    # What is committed is exactly what the checkpoint says: no half chunk.
    assert Customer.objects.count() == job.rows_done
    assert Membership.objects.count() == job.rows_done
    held = broker.unacked()
    assert held, f"the killed worker held no message\n{workers.logs()}"

    workers.start()
    assert imports_sweep() == 0  # its heartbeat is recent: it might still be running
    make_stale(job.pk)
    assert imports_sweep() == 1
    workers.wait_until(
        lambda: job_now(job.pk).status == ImportStatus.DONE,
        "the swept import done",
        timeout=IMPORT_TIMEOUT,
    )
    assert_imported_exactly_once(job.pk, points_total)

    # Redis hands the killed worker's message out again after its visibility timeout:
    # the import is done, so it writes nothing.
    assert broker.redeliver_unacked() == len(held)
    workers.wait_until(
        lambda: broker.queue_length() == 0 and not broker.unacked(),
        "the redelivered message consumed and acknowledged",
    )
    assert_imported_exactly_once(job.pk, points_total)
    assert imports_sweep() == 0
    workers.assert_clean()


def assert_imported_exactly_once(job_id: int, points_total: int) -> None:
    job = job_now(job_id)
    assert job.status == ImportStatus.DONE
    assert (job.rows_done, job.rows_error) == (MEMBERS, 0)
    assert not ImportRowError.objects.filter(job=job).exists()
    assert Customer.objects.count() == MEMBERS
    assert PartnerCustomer.objects.count() == MEMBERS
    assert Membership.objects.count() == MEMBERS
    external_ids = PartnerCustomer.objects.values_list("external_id", flat=True)
    assert set(external_ids) == {f"K-{n:05d}" for n in range(1, MEMBERS + 1)}
    assert not Customer.objects.values("email").annotate(n=Count("id")).filter(n__gt=1)
    assert not Membership.objects.values("customer").annotate(n=Count("id")).filter(n__gt=1)
    openings = LedgerEntry.objects.filter(kind=EntryKind.OPENING)
    assert openings.count() == MEMBERS - MEMBERS // 7
    assert not openings.values("membership").annotate(n=Count("id")).filter(n__gt=1)
    assert Membership.objects.aggregate(total=Sum("balance"))["total"] == points_total
    assert openings.aggregate(total=Sum("points"))["total"] == points_total
    assert ledger_drift() == []
