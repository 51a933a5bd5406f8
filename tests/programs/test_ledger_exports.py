"""Ledger exports: one member's whole ledger from the membership's page, and a program's
entries of a period for accounting (recorded or effective date, values in money), as CSV
and Excel; streamed in a constant number of queries; for the roles that may; logged."""

from datetime import UTC, datetime
from decimal import Decimal
from itertools import count
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from loyalty_site.core.models import AuditEntry
from programs.admin.forms import adjustment_key_new
from programs.models import LedgerEntry, Membership
from programs.services.actions import points_adjust
from programs.services.memberships import membership_enroll
from tests.factories import CustomerFactory, StaffFactory
from tests.programs.exports import csv_rows, staff_in, xlsx_cells, xlsx_rows

pytestmark = pytest.mark.django_db

INJECTION = '=HYPERLINK("http://x","y")'
KEYS = count(1)


def entry(membership, points, *, created, effective=None, kind="adjust", reason="", pending=0):
    """A ledger row as the services write them, at the times a test names."""
    return LedgerEntry.objects.create(
        membership=membership, kind=kind, source="staff", actor_type="staff", points=points,
        pending_points=pending, balance_after=max(points, 0), pending_after=max(pending, 0),
        reason=reason, idempotency_key=f"test:{next(KEYS)}", created_at=created,
        effective_at=effective or created,
    )  # fmt: skip


def berlin(*args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.fixture
def member(program, tiers):
    customer = CustomerFactory(first_name=INJECTION, last_name="Alt")
    membership, _ = membership_enroll(customer=customer, program=program)
    return membership


# --- one member's ledger -------------------------------------------------------------------
def ledger_export(client, membership, file_format="csv"):
    return client.get(
        reverse("admin:programs_membership_ledger_export", args=[membership.pk, file_format])
    )


def test_a_members_ledger_holds_every_entry_oldest_first(client, member, buy):
    staff = StaffFactory()
    purchase = buy(member, "40.00")
    points_adjust(membership=member, points=100, reason="Kulanz", user=staff,
                  idempotency_key=adjustment_key_new())  # fmt: skip
    points_adjust(membership=member, points=-30, reason="-Korrektur", user=staff,
                  idempotency_key=adjustment_key_new())  # fmt: skip
    earn = LedgerEntry.objects.get(membership=member, kind="earn")
    client.force_login(staff)

    rows = csv_rows(ledger_export(client, member))

    assert rows[0] == [
        "Erfasst", "Wirksam", "Art", "Quelle", "Punkte", "Vorgemerkte Punkte",
        "Reservierte Punkte", "Danach verfügbar", "Danach vorgemerkt", "Grund", "Referenz",
        "Bestellnummer",
    ]  # fmt: skip
    assert [row[2:6] for row in rows[1:]] == [
        ["Gesammelt", "Einkauf", str(earn.points), "0"],
        ["Vom Team korrigiert", "Korrektur durch das Team", "100", "0"],
        ["Vom Team korrigiert", "Korrektur durch das Team", "-30", "0"],
    ]
    assert rows[1][7] == str(earn.points)
    assert rows[3][7] == str(earn.points + 70)
    assert rows[1][9:] == [f"Bestellung {purchase.order_id}", earn.idempotency_key,
                           purchase.order_id]  # fmt: skip
    assert rows[3][9] == "'-Korrektur"  # staff-typed text that starts like a formula


def test_the_members_ledger_in_excel_keeps_negative_points_as_numbers(client, member):
    client.force_login(StaffFactory())
    points_adjust(membership=member, points=50, reason="Kulanz", user=StaffFactory(),
                  idempotency_key=adjustment_key_new())  # fmt: skip
    points_adjust(membership=member, points=-20, reason="-Korrektur", user=StaffFactory(),
                  idempotency_key=adjustment_key_new())  # fmt: skip

    rows = xlsx_rows(ledger_export(client, member, "xlsx"))
    cells = xlsx_cells(ledger_export(client, member, "xlsx"))

    assert [row[4] for row in rows[1:]] == [50, -20]
    assert [row[7] for row in rows[1:]] == [50, 30]
    assert rows[2][9] == "-Korrektur"
    assert (cells[2][4].data_type, cells[2][9].data_type) == ("n", "s")


def test_the_membership_page_offers_the_ledger_files(client, member):
    client.force_login(staff_in("Kundenservice"))

    page = client.get(reverse("admin:programs_membership_change", args=[member.pk]))

    html = page.content.decode()
    for file_format in ("csv", "xlsx"):
        url = reverse("admin:programs_membership_ledger_export", args=[member.pk, file_format])
        assert f'href="{url}"' in html


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("Kundenservice", True), ("Programm-Management", True), ("Finanzen", False)],
)
def test_a_members_ledger_is_for_those_who_see_the_membership(client, member, role, allowed):
    client.force_login(staff_in(role))

    response = ledger_export(client, member)

    assert response.status_code == (200 if allowed else 403)


def test_a_members_ledger_export_is_logged_for_the_customer(client, member):
    client.force_login(staff_in("Kundenservice"))
    csv_rows(ledger_export(client, member))

    logged = AuditEntry.objects.get(action="export_ledger")
    assert (logged.model, logged.object_id) == ("programs.membership", str(member.pk))
    assert logged.customer_id == member.customer_id  # redacted with the customer's data
    assert logged.action_label.endswith(" (CSV)")


def test_a_members_ledger_reads_in_the_same_queries_for_50_or_500_entries(client, member):
    client.force_login(StaffFactory())
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    for _ in range(50):
        entry(member, 1, created=moment)

    with CaptureQueriesContext(connection) as fifty:
        assert len(csv_rows(ledger_export(client, member))) == 51
    for _ in range(450):
        entry(member, 1, created=moment)
    with CaptureQueriesContext(connection) as five_hundred:
        assert len(csv_rows(ledger_export(client, member))) == 501

    assert len(five_hundred) == len(fifty)


# --- a program's entries of a period ---------------------------------------------------------
PERIOD_URL = "admin:programs_ledgerentry_period_export"


@pytest.fixture
def march(program, member):
    """Entries around March 2026 (Berlin): two in March, one recorded in April that counts
    in March, one in April."""
    program.point_value = Decimal("0.01")
    program.currency = "EUR"
    program.save()
    other, _ = membership_enroll(
        customer=CustomerFactory(first_name="Bea", last_name="Berg"), program=program
    )
    return {
        "first": entry(member, 250, created=berlin(2026, 3, 1, 0, 0, 5), reason="Kulanz"),
        "last": entry(other, -1234, created=berlin(2026, 3, 31, 23, 59, 59), kind="redeem"),
        "late": entry(
            other, 7, created=berlin(2026, 4, 1, 0, 30), effective=berlin(2026, 3, 20, 12, 0)
        ),
        "april": entry(member, 40, created=berlin(2026, 4, 2, 9, 0)),
        "other": other,
    }


def period(client, program, file_format="csv", basis="created_at", **extra):
    query = {"program": program.pk, "first": "2026-03-01", "last": "2026-03-31",
             "basis": basis, "file_format": file_format, **extra}  # fmt: skip
    return client.get(reverse(PERIOD_URL), query)


@pytest.fixture
def finance_client(client):
    client.force_login(staff_in("Finanzen"))
    return client


def test_the_period_by_recorded_date_with_values_in_money(finance_client, program, member, march):
    response = period(finance_client, program)

    assert response["Content-Disposition"] == (
        f'attachment; filename="punktebuchungen-{program.slug}-2026-03-01-bis-2026-03-31.csv"'
    )
    rows = csv_rows(response)
    assert rows[0] == [
        "Erfasst", "Wirksam", "Mitgliedschafts-ID", "Kartennummer", "Name", "Art", "Quelle",
        "Punkte", "Vorgemerkte Punkte", "Wert", "Währung", "Grund", "Referenz",
    ]  # fmt: skip
    other = march["other"]
    assert rows[1:] == [
        ["2026-03-01 00:00:05", "2026-03-01 00:00:05", str(member.pk), member.card_number,
         f"'{INJECTION} Alt", "Vom Team korrigiert", "Korrektur durch das Team", "250",
         "0", "2.50", "EUR", "Kulanz", march["first"].idempotency_key],
        ["2026-03-31 23:59:59", "2026-03-31 23:59:59", str(other.pk), other.card_number,
         "Bea Berg", "Eingelöst", "Korrektur durch das Team", "-1234", "0", "-12.34", "EUR", "",
         march["last"].idempotency_key],
    ]  # fmt: skip


def test_the_period_by_effective_date(finance_client, program, march):
    rows = csv_rows(period(finance_client, program, basis="effective_at"))

    assert [row[-1] for row in rows[1:]] == [
        march["first"].idempotency_key,
        march["late"].idempotency_key,
        march["last"].idempotency_key,
    ]


def test_the_period_in_excel(finance_client, program, member, march):
    header, first, last = xlsx_rows(period(finance_client, program, "xlsx"))
    cells = xlsx_cells(period(finance_client, program, "xlsx"))

    assert header[9] == "Wert"
    assert first[0] == datetime(2026, 3, 1, 0, 0, 5)
    assert first[4] == f"{INJECTION} Alt"
    assert (last[7], last[9], last[10]) == (-1234, -12.34, "EUR")
    assert cells[1][4].data_type == "s"  # the name is text, never a formula
    assert (cells[2][7].data_type, cells[2][9].data_type) == ("n", "n")


def test_the_form_page_and_its_errors(finance_client, program):
    page = finance_client.get(reverse(PERIOD_URL))
    assert page.status_code == 200
    assert 'id="period-export"' in page.content.decode()

    wrong = period(finance_client, program, first="2026-04-01")
    assert wrong.status_code == 200
    assert "errornote" in wrong.content.decode()


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("Kundenservice", False),
        ("Programm-Management", False),
        ("Finanzen", True),
        ("Administration", True),
    ],
)
def test_the_period_export_is_for_the_roles_that_see_finances(client, program, march, role,
                                                                allowed):  # fmt: skip
    client.force_login(staff_in(role))

    response = period(client, program)
    ledger_list = client.get(reverse("admin:programs_ledgerentry_changelist")).content.decode()

    assert response.status_code == (200 if allowed else 403)
    assert (reverse(PERIOD_URL) in ledger_list) == allowed


def test_the_period_export_is_logged(finance_client, program, march):
    csv_rows(period(finance_client, program))

    logged = AuditEntry.objects.get(action="export_ledger_period")
    assert logged.actor_name == "finanzen_export"
    assert "2026-03-01 - 2026-03-31" in logged.object_repr
    assert logged.action_label.endswith(" (CSV)")


def test_the_period_reads_in_the_same_queries_for_50_or_500_entries(client, program, member):
    client.force_login(StaffFactory())
    moment = berlin(2026, 3, 10, 12, 0)
    members = [member] + [
        membership_enroll(customer=CustomerFactory(), program=program)[0] for _ in range(4)
    ]
    for number in range(50):
        entry(members[number % 5], 3, created=moment)
    with CaptureQueriesContext(connection) as fifty:
        assert len(csv_rows(period(client, program))) == 51
    LedgerEntry.objects.bulk_create(
        LedgerEntry(membership=members[number % 5], kind="adjust", source="staff",
                    actor_type="staff", points=-2, balance_after=0, pending_after=0,
                    idempotency_key=f"bulk:{number}", created_at=moment, effective_at=moment)
        for number in range(450)
    )  # fmt: skip
    with CaptureQueriesContext(connection) as five_hundred:
        assert len(csv_rows(period(client, program))) == 501

    assert len(five_hundred) == len(fifty)
    assert Membership.objects.filter(program=program).count() == 5
