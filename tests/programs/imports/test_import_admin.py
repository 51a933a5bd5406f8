"""The import pages as staff use them: upload, read the dry run and the bad rows,
confirm, see the result; roles that may not import cannot."""

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from customers.models import Customer
from programs.imports.commits import import_commit
from programs.models import ImportJob, ImportStatus, Membership
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FILE = (
    "Kundennummer;Vorname;Nachname;Punktestand\nK-1;Anna;Schröder;1.500\nK-2;=cmd;Müller;20\n"
).encode("cp1252")


def staff(role):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def upload(client, partner, program, content=FILE, **extra):
    return client.post(
        reverse("admin:programs_importjob_add"),
        {
            "kind": "members",
            "partner": partner.pk,
            "program": program.pk,
            "file": SimpleUploadedFile("alt-system.csv", content, content_type="text/csv"),
            "encoding": "auto",
            "delimiter": "auto",
            "decimal": "auto",
            **extra,
        },
    )


def test_upload_shows_the_dry_run_with_bad_rows_then_imports_on_confirmation(
    client, partner, program, tiers
):
    client.force_login(staff("Programm-Management"))

    response = upload(client, partner, program)

    assert response.status_code == 302
    job = ImportJob.objects.get()
    page = client.get(response["Location"]).content.decode()
    assert 'id="dry-run-rows">2<' in page
    assert 'id="dry-run-errors">1<' in page
    assert "first_name" in page  # the bad row's column
    assert not Customer.objects.exists()

    confirmed = client.post(
        reverse("admin:programs_importjob_confirm", args=[job.pk]), {"digest": job.plan_digest}
    )
    assert confirmed.status_code == 302
    import_commit(job.pk)  # what the worker does

    job.refresh_from_db()
    assert job.status == ImportStatus.DONE
    assert Membership.objects.get().balance == 1500
    page = client.get(reverse("admin:programs_importjob_change", args=[job.pk])).content.decode()
    assert "import-status" in page


def test_a_stale_page_cannot_confirm_a_renewed_dry_run(client, partner, program, tiers):
    client.force_login(staff("Programm-Management"))
    upload(client, partner, program)
    job = ImportJob.objects.get()

    client.post(reverse("admin:programs_importjob_confirm", args=[job.pk]), {"digest": "old"})

    job.refresh_from_db()
    assert job.status == ImportStatus.CHECKED


def test_bad_rows_download_as_csv(client, partner, program, tiers):
    client.force_login(staff("Programm-Management"))
    upload(client, partner, program)
    job = ImportJob.objects.get()

    response = client.get(reverse("admin:programs_importjob_errors", args=[job.pk]))

    text = b"".join(response.streaming_content).decode()
    assert "3,first_name," in text


@pytest.mark.parametrize("role", ["Kundenservice", "Finanzen"])
def test_roles_without_import_rights_cannot_upload(client, partner, program, tiers, role):
    client.force_login(staff(role))

    response = upload(client, partner, program)

    assert response.status_code == 403
    assert not ImportJob.objects.exists()


def test_a_partner_outside_the_program_is_a_form_error(client, partner, program, tiers):
    from tests.factories import PartnerFactory

    client.force_login(staff("Programm-Management"))
    stranger = PartnerFactory(programs=[])

    response = upload(client, stranger, program)

    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_a_big_file_is_checked_in_the_background_with_a_progress_page(
    client, partner, program, tiers, django_capture_on_commit_callbacks
):
    from programs.imports.dry_runs import import_check
    from programs.imports.uploads import INLINE_CHECK_BYTES

    client.force_login(staff("Programm-Management"))
    rows = "".join(f"K-{n};Vorname{n};Nachname{n};{n % 100}\n" for n in range(12_000))
    content = f"Kundennummer;Vorname;Nachname;Punktestand\n{rows}".encode()
    assert len(content) > INLINE_CHECK_BYTES

    with django_capture_on_commit_callbacks() as callbacks:
        response = upload(client, partner, program, content)

    job = ImportJob.objects.get()
    assert job.status == ImportStatus.CHECKING
    assert callbacks  # the dry run is enqueued after the commit
    page = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' in page
    assert 'id="import-progress"' in page

    import_check(job.pk)  # what the worker does

    job.refresh_from_db()
    assert job.status == ImportStatus.CHECKED
    assert job.summary["rows"] == 12_000
    page = client.get(response["Location"]).content.decode()
    assert 'http-equiv="refresh"' not in page


def test_the_dry_run_shows_the_history_start_moving_back_in_german_dates(
    client, partner, program, tiers
):
    from datetime import date

    program.history_starts_on = date(2026, 1, 1)
    program.save()
    client.force_login(staff("Programm-Management"))
    content = b"Kundennummer;Punktestand;Gesammelt am\nK-1;100;15.03.2025\n"

    response = upload(client, partner, program, content)

    page = client.get(response["Location"]).content.decode()
    assert "01.01.2026 → 15.03.2025" in page
