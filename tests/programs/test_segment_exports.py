"""A segment's members as CSV and Excel: every member, or for marketing only those who
agreed to marketing e-mails; the file name says which; only staff who may view segments."""

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from customers.preferences import customer_preferences_update
from programs.models import Segment, SegmentCondition
from programs.models import SegmentField as F
from programs.models import SegmentOperator as Op
from tests.factories import StaffFactory, UserFactory
from tests.programs.segment_members import figures, make_member, make_purchase

pytestmark = pytest.mark.django_db

HEADER = [
    "Mitgliedschafts-ID",
    "Name",
    "E-Mail",
    "Stufe",
    "Verfügbare Punkte",
    "Engagement-Wert",
    "Abwanderungsrisiko",
    "Letzter Kauf",
    "Geburtsmonat",
    "Marketing-E-Mails erlaubt",
]


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


@pytest.fixture
def segment(program, tiers, partner):
    """Silber and up: Anna (agreed to marketing e-mails) and Bert (did not); not Carl."""
    anna = make_member(
        program,
        tiers,
        tier="Gold",
        balance=120,
        first_name="Anna",
        last_name="Alt",
        email="anna@example.com",
        birth_date=date(1990, 5, 31),
    )
    figures(anna, engagement_score=Decimal("72.50"), churn_risk=True)
    bought_at = timezone.now() - timedelta(days=10)
    make_purchase(anna, partner, "30.00", at=bought_at)
    customer_preferences_update(anna.customer, email_marketing=True)
    bert = make_member(
        program, tiers, tier="Silber", first_name="=HYPERLINK(1)", last_name="", email="b@x.de"
    )
    customer_preferences_update(bert.customer, email_marketing=False)
    make_member(program, tiers, tier="Bronze", email="carl@example.com")
    segment = Segment.objects.create(program=program, name="Stammkunden")
    SegmentCondition.objects.create(
        segment=segment, field=F.TIER, operator=Op.AT_LEAST, tier=tiers["Silber"]
    )
    segment.anna, segment.bert = anna, bert
    segment.anna_bought_on = timezone.localdate(bought_at)
    return segment


def export(client, segment, file_format, audience):
    return client.get(
        reverse("admin:programs_segment_export", args=[segment.pk, file_format, audience])
    )


def csv_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def test_csv_of_all_members(staff_client, segment):
    response = export(staff_client, segment, "csv", "alle")

    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == (
        f'attachment; filename="segment-stammkunden-alle-mitglieder-{today}.csv"'
    )
    assert csv_rows(response) == [
        HEADER,
        [
            str(segment.anna.pk),
            "Anna Alt",
            "anna@example.com",
            "Gold",
            "120",
            "72.50",
            "ja",
            segment.anna_bought_on.isoformat(),
            "5",
            "ja",
        ],
        [str(segment.bert.pk), "'=HYPERLINK(1)", "b@x.de", "Silber", "0", "", "", "", "", "nein"],
    ]


def test_csv_for_marketing_holds_only_members_who_agreed(staff_client, segment):
    response = export(staff_client, segment, "csv", "marketing")

    assert "-marketing-einwilligung-" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert [row[2] for row in rows[1:]] == ["anna@example.com"]


def workbook_rows(response) -> tuple[str, list[tuple]]:
    content = b"".join(response.streaming_content)
    sheet = load_workbook(io.BytesIO(content)).active
    return sheet.title, [tuple(cell.value for cell in row) for row in sheet.iter_rows()]


def test_excel_of_all_members_and_for_marketing(staff_client, segment):
    every = export(staff_client, segment, "xlsx", "alle")
    marketing = export(staff_client, segment, "xlsx", "marketing")

    assert every["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert ".xlsx" in every["Content-Disposition"]
    assert "-alle-mitglieder-" in every["Content-Disposition"]
    assert "-marketing-einwilligung-" in marketing["Content-Disposition"]
    title, rows = workbook_rows(every)
    assert title == "Stammkunden"
    assert rows[0] == tuple(HEADER)
    anna, bert = rows[1], rows[2]
    assert anna[:7] == (segment.anna.pk, "Anna Alt", "anna@example.com", "Gold", 120, 72.5, "ja")
    assert anna[7].date() == segment.anna_bought_on
    assert anna[8:] == (5, "ja")
    assert bert[1] == "=HYPERLINK(1)"  # text, not a formula
    assert [row[2] for row in workbook_rows(marketing)[1][1:]] == ["anna@example.com"]


def test_export_is_for_staff_who_may_view_segments(client, segment):
    viewer = UserFactory(is_staff=True)
    client.force_login(viewer)
    assert export(client, segment, "csv", "alle").status_code == 403

    viewer.user_permissions.add(Permission.objects.get(codename="view_segment"))
    client.force_login(viewer)
    assert export(client, segment, "csv", "alle").status_code == 200
    assert export(client, segment, "pdf", "alle").status_code == 404


def test_a_long_segment_export_is_written_in_the_background(staff_client, segment, monkeypatch):
    from programs.admin import export_files, export_jobs
    from programs.models import ExportJob, ExportStatus

    direct = workbook_rows(export(staff_client, segment, "xlsx", "alle"))[1]
    monkeypatch.setattr(export_files, "XLSX_MAX_ROWS", 1)  # the segment has more members

    response = export(staff_client, segment, "xlsx", "alle")

    assert response.status_code == 302
    job = ExportJob.objects.get()
    assert response["Location"].endswith(f"/{job.pk}/change/")
    export_jobs.export_job_run(job.pk)  # what the worker does
    job.refresh_from_db()
    assert job.status == ExportStatus.DONE
    download = staff_client.get(reverse("admin:programs_exportjob_download", args=[job.pk]))
    assert workbook_rows(download)[1] == direct
