"""Exports beyond the rows a request may write (Excel: ``XLSX_MAX_ROWS``, CSV:
``CSV_MAX_ROWS``) run in the background: the export becomes a job whose page shows the
progress and then the download; the worker writes the same file the direct export gives
(filters, columns, formulas kept as text or escaped); only the staff member who started
it (and Administration) sees it; a job whose worker is gone is shown as failed and can be
started again; old files are deleted after a week."""

import csv
import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from loyalty_site.core.models import AuditEntry
from programs.admin import export_files, export_jobs
from programs.models import ExportFilePart, ExportJob, ExportStatus, LedgerEntry
from programs.services.memberships import membership_enroll
from tests.factories import CustomerFactory, ProgramFactory, UserFactory, standard_tiers
from tests.programs.exports import csv_rows, staff_in, xlsx_cells, xlsx_rows
from tests.programs.segment_members import make_member

pytestmark = pytest.mark.django_db

INJECTION = '=HYPERLINK("http://x","y")'
POINTS = [-4, -3, -2, -1, 1, 2, 3, 4, 5]  # a period's ledger entries


@pytest.fixture
def small_cap(monkeypatch):
    monkeypatch.setattr(export_files, "XLSX_MAX_ROWS", 5)


@pytest.fixture
def twelve_members():
    """Twelve members of Kaffeeclub, one with a name like a formula; one of Teeclub."""
    program = ProgramFactory(name="Kaffeeclub")
    tiers = standard_tiers(program)
    make_member(program, tiers, first_name=INJECTION, last_name="-Berg", balance=7)
    for number in range(11):
        make_member(program, tiers, first_name=f"Mitglied {number}", balance=number)
    other = ProgramFactory(name="Teeclub")
    make_member(other, standard_tiers(other), first_name="Carl")
    return program


@pytest.fixture
def manager(client):
    user = staff_in("Programm-Management")
    client.force_login(user)
    return user


def members_export(client, file_format="xlsx", **query):
    return client.get(reverse("admin:programs_membership_export", args=[file_format]), query)


def job_page(client, job):
    return client.get(reverse("admin:programs_exportjob_change", args=[job.pk]))


def download(client, job):
    return client.get(reverse("admin:programs_exportjob_download", args=[job.pk]))


def rows_written(page) -> list[int]:
    """The numbers in "<done> of <total> rows written"."""
    found = re.search(r'id="export-rows">([^<]*)<', page.content.decode())
    return [int(n) for n in re.findall(r"\d+", found.group(1).replace(".", ""))] if found else []


def test_a_long_excel_export_of_members_becomes_a_job(client, manager, twelve_members, small_cap):
    response = members_export(client, program__id__exact=twelve_members.pk)

    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:programs_exportjob_change", args=[job.pk])
    assert not response.content  # no file: the worker writes it
    assert (job.user, job.status, job.rows_total) == (manager, ExportStatus.QUEUED, 12)
    assert job.params == {"query": f"program__id__exact={twelve_members.pk}"}
    logged = AuditEntry.objects.get(action="export_members")
    assert logged.action_label.endswith(" (Excel)")
    assert logged.object_repr.endswith(f": program__id__exact={twelve_members.pk}")

    waiting = job_page(client, job)
    assert '<meta http-equiv="refresh" content="3">' in waiting.content.decode()
    assert rows_written(waiting) == [0, 12]
    assert 'id="export-download"' not in waiting.content.decode()


def test_the_job_page_shows_the_progress_then_the_download(
    client, manager, twelve_members, small_cap, monkeypatch
):
    members_export(client, program__id__exact=twelve_members.pk)
    job = ExportJob.objects.get()
    pages = []
    alive = export_jobs._alive

    def alive_and_looked_at(job, rows_done):
        alive(job, rows_done)
        pages.append(job_page(client, job))

    monkeypatch.setattr(export_jobs, "PROGRESS_EVERY", 5)
    monkeypatch.setattr(export_jobs, "_alive", alive_and_looked_at)
    assert export_jobs.export_job_run(job.pk)

    assert [rows_written(page) for page in pages] == [[5, 12], [10, 12]]
    assert all('content="3"' in page.content.decode() for page in pages)
    done = job_page(client, job).content.decode()
    assert 'http-equiv="refresh"' not in done
    assert f'href="{reverse("admin:programs_exportjob_download", args=[job.pk])}"' in done


def test_the_file_is_the_one_the_direct_export_gives(
    client, manager, twelve_members, small_cap, monkeypatch
):
    members_export(client, program__id__exact=twelve_members.pk)
    job = ExportJob.objects.get()
    export_jobs.export_job_run(job.pk)

    response = download(client, job)
    file_rows = xlsx_rows(download(client, job))
    cells = xlsx_cells(download(client, job))
    monkeypatch.setattr(export_files, "XLSX_MAX_ROWS", 50_000)
    direct = xlsx_rows(members_export(client, program__id__exact=twelve_members.pk))

    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="{job.file_name}"'
    assert job.file_name.startswith("mitglieder-")
    assert job.file_name.endswith(".xlsx")
    assert int(response["Content-Length"]) == ExportJob.objects.get().file_size
    assert len(file_rows) == 13  # the header and twelve members; Teeclub's is filtered out
    assert file_rows == direct
    assert file_rows[0][:3] == ("Mitgliedschafts-ID", "Kartennummer", "Programm")
    injected = next(row for row in cells if row[3].value == INJECTION)
    assert (injected[3].data_type, injected[4].data_type) == ("s", "s")  # text, no formula
    assert injected[9].value == 7
    assert injected[9].data_type == "n"


def test_the_file_is_stored_in_parts(client, manager, twelve_members, small_cap, monkeypatch):
    monkeypatch.setattr(export_jobs, "PART_BYTES", 2000)
    members_export(client, program__id__exact=twelve_members.pk)
    job = ExportJob.objects.get()
    export_jobs.export_job_run(job.pk)

    parts = ExportFilePart.objects.filter(job=job).count()
    assert parts == -(-ExportJob.objects.get().file_size // 2000)
    assert parts > 1
    assert len(xlsx_rows(download(client, job))) == 13


@pytest.mark.parametrize(
    ("role", "sees"), [("Programm-Management", False), ("Administration", True)]
)
def test_only_who_started_it_and_administration_see_the_job(
    client, twelve_members, small_cap, role, sees
):
    client.force_login(staff_in("Programm-Management"))
    members_export(client)
    job = ExportJob.objects.get()
    export_jobs.export_job_run(job.pk)
    other = UserFactory(username="someone_else", is_staff=True)
    other.groups.add(Group.objects.get(name=role))
    client.force_login(other)

    page, file = job_page(client, job), download(client, job)
    retry = client.post(reverse("admin:programs_exportjob_retry", args=[job.pk]))

    assert (page.status_code, file.status_code) == ((200, 200) if sees else (404, 404))
    assert retry.status_code == (302 if sees else 404)
    if sees:
        assert len(xlsx_rows(file)) == 14  # both programs: no filter


def test_a_csv_up_to_its_cap_is_streamed_as_before(
    client, manager, twelve_members, small_cap, monkeypatch
):
    monkeypatch.setattr(export_files, "CSV_MAX_ROWS", 13)  # the Excel cap (5) is no matter

    rows = csv_rows(members_export(client, "csv"))

    assert len(rows) == 14  # the header and all 13 members: at the cap, not above it
    assert not ExportJob.objects.exists()


@pytest.fixture
def small_csv_cap(monkeypatch):
    monkeypatch.setattr(export_files, "CSV_MAX_ROWS", 5)


def test_a_long_csv_export_of_members_becomes_a_job(client, manager, twelve_members, small_csv_cap):
    response = members_export(client, "csv", program__id__exact=twelve_members.pk)

    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:programs_exportjob_change", args=[job.pk])
    assert not response.content
    assert (job.file_format, job.status, job.rows_total) == ("csv", ExportStatus.QUEUED, 12)
    assert job.file_name.startswith("mitglieder-")
    assert job.file_name.endswith(".csv")
    assert AuditEntry.objects.get(action="export_members").action_label.endswith(" (CSV)")
    [message] = get_messages(response.wsgi_request)
    assert str(message).startswith("12 ")
    assert "CSV" in str(message)
    assert rows_written(job_page(client, job)) == [0, 12]


def test_the_csv_file_is_the_one_the_direct_export_gives(
    client, manager, twelve_members, small_csv_cap, monkeypatch
):
    monkeypatch.setattr(export_jobs, "PART_BYTES", 500)
    members_export(client, "csv", program__id__exact=twelve_members.pk)
    job = ExportJob.objects.get()
    assert export_jobs.export_job_run(job.pk)

    job.refresh_from_db()
    response = download(client, job)
    file_bytes = b"".join(download(client, job).streaming_content)
    file_rows = csv_rows(download(client, job))
    monkeypatch.setattr(export_files, "CSV_MAX_ROWS", 200_000)
    direct = members_export(client, "csv", program__id__exact=twelve_members.pk)
    direct_bytes = b"".join(direct.streaming_content)

    assert job.status == ExportStatus.DONE
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{job.file_name}"'
    assert int(response["Content-Length"]) == job.file_size == len(file_bytes)
    assert ExportFilePart.objects.filter(job=job).count() > 1  # stored in parts
    assert len(file_rows) == 13  # the header and twelve members; Teeclub's is filtered out
    assert file_rows == list(csv.reader(io.StringIO(direct_bytes.decode("utf-8")[1:])))
    assert file_bytes == direct_bytes  # the same BOM, quoting and line ends too
    assert file_rows[0][:3] == ["Mitgliedschafts-ID", "Kartennummer", "Programm"]
    injected = next(row for row in file_rows if INJECTION in row[3])
    assert (injected[3], injected[4]) == (f"'{INJECTION}", "'-Berg")  # never a formula
    assert injected[9] == "7"


def test_a_job_without_progress_shows_failed_and_starts_again(
    client, manager, twelve_members, small_cap
):
    members_export(client)
    job = ExportJob.objects.get()
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=11)
    )

    page = job_page(client, job).content.decode()
    retry_url = reverse("admin:programs_exportjob_retry", args=[job.pk])
    assert 'id="export-error"' in page
    assert f'action="{retry_url}"' in page
    assert 'http-equiv="refresh"' not in page

    assert client.post(retry_url).status_code == 302
    assert ExportJob.objects.get().status == ExportStatus.QUEUED
    assert export_jobs.export_job_run(job.pk)
    assert ExportJob.objects.get().status == ExportStatus.DONE
    assert len(xlsx_rows(download(client, job))) == 14


def test_a_redelivered_task_takes_over_only_from_a_worker_that_is_gone(
    client, manager, twelve_members, small_cap
):
    members_export(client)
    job = ExportJob.objects.get()
    ExportJob.objects.filter(pk=job.pk).update(
        status=ExportStatus.RUNNING, heartbeat_at=timezone.now() - timedelta(seconds=30)
    )
    assert export_jobs.export_job_run(job.pk) is False  # another worker is alive: later
    assert ExportJob.objects.get().status == ExportStatus.RUNNING

    ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=3))
    assert export_jobs.export_job_run(job.pk) is True
    assert ExportJob.objects.get().status == ExportStatus.DONE


def test_a_failure_is_shown_with_its_reason(client, twelve_members, small_cap):
    user = staff_in("Programm-Management")
    client.force_login(user)
    members_export(client)
    job = ExportJob.objects.get()
    user.groups.clear()  # no longer allowed to export members

    export_jobs.export_job_run(job.pk)

    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED
    assert job.error
    page = job_page(client, job).content.decode()
    assert 'id="export-error"' in page
    assert job.error in page
    assert not ExportFilePart.objects.exists()


def test_files_are_deleted_after_a_week(client, manager, twelve_members, small_cap):
    members_export(client)
    job = ExportJob.objects.get()
    export_jobs.export_job_run(job.pk)
    ExportJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=6))
    assert export_jobs.export_files_purge() == 0
    ExportJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(days=8))

    assert export_jobs.export_files_purge() == 1

    assert not ExportFilePart.objects.filter(job=job).exists()
    assert download(client, job).status_code == 404
    assert 'id="export-download"' not in job_page(client, job).content.decode()


def test_a_long_excel_export_of_a_periods_ledger_entries_becomes_a_job(
    client, program, tiers, monkeypatch
):
    berlin = ZoneInfo("Europe/Berlin")
    members = [
        membership_enroll(customer=CustomerFactory(first_name=name), program=program)[0]
        for name in (INJECTION, "Bea", "Cem")
    ]
    moment = datetime(2026, 3, 10, 12, 0, tzinfo=berlin)
    LedgerEntry.objects.bulk_create(
        LedgerEntry(membership=members[number % 3], kind="adjust", source="staff",
                    actor_type="staff", points=POINTS[number], balance_after=0, pending_after=0,
                    idempotency_key=f"period:{number}", created_at=moment, effective_at=moment)
        for number in range(9)
    )  # fmt: skip
    client.force_login(staff_in("Finanzen"))
    query = {"program": program.pk, "first": "2026-03-01", "last": "2026-03-31",
             "basis": "created_at", "file_format": "xlsx"}  # fmt: skip
    url = reverse("admin:programs_ledgerentry_period_export")
    monkeypatch.setattr(export_files, "XLSX_MAX_ROWS", 5)

    response = client.get(url, query)

    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert job.rows_total == 9
    assert AuditEntry.objects.get(action="export_ledger_period").action_label.endswith("(Excel)")
    export_jobs.export_job_run(job.pk)
    file_rows = xlsx_rows(download(client, job))
    cells = xlsx_cells(download(client, job))
    monkeypatch.setattr(export_files, "XLSX_MAX_ROWS", 50_000)
    assert file_rows == xlsx_rows(client.get(url, query))
    assert len(file_rows) == 10
    assert [row[7] for row in file_rows[1:]] == POINTS
    assert cells[1][4].value.startswith(INJECTION)
    assert cells[1][4].data_type == "s"


def test_a_long_csv_export_of_a_periods_ledger_entries_becomes_a_job(
    client, program, tiers, monkeypatch
):
    moment = datetime(2026, 3, 10, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    member = membership_enroll(customer=CustomerFactory(first_name=INJECTION), program=program)[0]
    LedgerEntry.objects.bulk_create(
        LedgerEntry(membership=member, kind="adjust", source="staff", actor_type="staff",
                    points=points, balance_after=0, pending_after=0,
                    idempotency_key=f"period:{number}", created_at=moment, effective_at=moment)
        for number, points in enumerate(POINTS)
    )  # fmt: skip
    client.force_login(staff_in("Finanzen"))
    query = {"program": program.pk, "first": "2026-03-01", "last": "2026-03-31",
             "basis": "created_at", "file_format": "csv"}  # fmt: skip
    url = reverse("admin:programs_ledgerentry_period_export")
    monkeypatch.setattr(export_files, "CSV_MAX_ROWS", 5)

    assert client.get(url, query).status_code == 302

    job = ExportJob.objects.get()
    assert (job.file_format, job.rows_total) == ("csv", 9)
    assert job.file_name.endswith(".csv")
    export_jobs.export_job_run(job.pk)
    file_rows = csv_rows(download(client, job))
    monkeypatch.setattr(export_files, "CSV_MAX_ROWS", 50_000)
    assert file_rows == csv_rows(client.get(url, query))
    assert [row[7] for row in file_rows[1:]] == [str(points) for points in POINTS]
    assert file_rows[1][4].startswith(f"'{INJECTION}")
