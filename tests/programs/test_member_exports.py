"""The members export above the membership list: every member the list shows (its filters
and search, not one page) as CSV or Excel, with points, tier, figures and consents; text
that looks like a formula stays text; for the roles that may export members; logged."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from customers.models import Customer
from customers.preferences import customer_preferences_update
from loyalty_site.core.models import AuditEntry
from programs.models import Membership, MembershipStatus, PartnerCustomer
from tests.factories import PartnerFactory, ProgramFactory, StaffFactory, standard_tiers
from tests.programs.exports import csv_rows, staff_in, xlsx_cells, xlsx_rows
from tests.programs.segment_members import figures, make_member

pytestmark = pytest.mark.django_db

INJECTION = '=HYPERLINK("http://x","y")'
HEADER = [
    "Mitgliedschafts-ID",
    "Kartennummer",
    "Programm",
    "Vorname",
    "Nachname",
    "E-Mail",
    "Sprache",
    "Status",
    "Stufe",
    "Verfügbare Punkte",
    "Vorgemerkte Punkte",
    "Engagement-Wert",
    "Abwanderungsrisiko",
    "Beigetreten",
    "Letzte Aktivität",
    "E-Mail: Neuigkeiten und Angebote",
    "E-Mail: kurze Umfragen",
    "E-Mail: Stufenauf- und -abstiege",
    "E-Mail: nächste Stufe in Reichweite",
    "E-Mail: Punkte verfallen bald",
    "E-Mail: eingelöste Prämien",
    "E-Mail: Empfehlungsprämien",
    "Kundennummern bei Partnern",
]
JOINED = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 2 March in Berlin
ACTIVE = datetime(2026, 4, 2, 8, 15, 42, 123456, tzinfo=UTC)  # 10:15:42 in Berlin


@pytest.fixture
def world():
    """Kaffeeclub: Anna (Gold, consents given, a partner's id) and Bert (a name like a
    formula, 30 points in debt, suspended); Carl is in another program."""
    program = ProgramFactory(name="Kaffeeclub")
    tiers = standard_tiers(program)
    shop = PartnerFactory(name="Rösterei", programs=[program])
    elsewhere = PartnerFactory(name="Buchladen")  # not in the program: its id is left out
    anna = make_member(
        program, tiers, tier="Gold", balance=120, first_name="Anna", last_name="Alt",
        email="anna@example.com",
    )  # fmt: skip
    Membership.objects.filter(pk=anna.pk).update(
        pending=15, joined_at=JOINED, last_activity_at=ACTIVE
    )
    figures(anna, engagement_score=Decimal("72.50"), churn_risk=True)
    customer_preferences_update(anna.customer, email_marketing=True, email_surveys=False)
    PartnerCustomer.objects.create(partner=shop, customer=anna.customer, external_id="K-17")
    PartnerCustomer.objects.create(partner=elsewhere, customer=anna.customer, external_id="B-9")
    bert = make_member(
        program, tiers, tier="Silber", first_name=INJECTION, last_name="-Berg",
        email="bert@example.com", language="en",
    )  # fmt: skip
    Membership.objects.filter(pk=bert.pk).update(
        debt=30, joined_at=JOINED, status=MembershipStatus.SUSPENDED
    )
    other = ProgramFactory(name="Teeclub")
    carl = make_member(other, standard_tiers(other), first_name="Carl", email="carl@example.com")
    anna.refresh_from_db()
    bert.refresh_from_db()
    return {"program": program, "anna": anna, "bert": bert, "carl": carl}


@pytest.fixture
def manager_client(client):
    client.force_login(staff_in("Programm-Management"))
    return client


def export(client, file_format="csv", prefix="", **query):
    url = reverse("admin:programs_membership_export", args=[file_format])
    return client.get(prefix + url, query)


def test_the_csv_holds_each_member_of_the_filtered_list(manager_client, world):
    anna, bert = world["anna"], world["bert"]

    response = export(manager_client, program__id__exact=world["program"].pk)

    assert response.status_code == 200
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="mitglieder-{today}.csv"'
    assert csv_rows(response) == [
        HEADER,
        [
            str(anna.pk), anna.card_number, "Kaffeeclub", "Anna", "Alt", "anna@example.com",
            "Deutsch", "Aktiv", "Gold", "120", "15", "72.50", "ja", "2026-03-02",
            "2026-04-02 10:15:42", "ja", "nein", "ja", "ja", "ja", "ja", "ja", "Rösterei: K-17",
        ],
        [
            str(bert.pk), bert.card_number, "Kaffeeclub", f"'{INJECTION}", "'-Berg",
            "bert@example.com", "Englisch", "Gesperrt", "Silber", "-30", "0", "", "",
            "2026-03-02", "", "nein", "ja", "ja", "ja", "ja", "ja", "ja", "",
        ],
    ]  # fmt: skip


def test_the_export_follows_the_lists_filters_and_search(manager_client, world):
    every = csv_rows(export(manager_client))
    suspended = csv_rows(export(manager_client, status__exact="suspended"))
    searched = csv_rows(export(manager_client, q="carl@example.com"))

    assert [row[5] for row in every[1:]] == [
        "anna@example.com",
        "bert@example.com",
        "carl@example.com",
    ]
    assert [row[5] for row in suspended[1:]] == ["bert@example.com"]
    assert [row[5] for row in searched[1:]] == ["carl@example.com"]


def test_an_unknown_filter_goes_back_to_the_list(manager_client, world):
    response = export(manager_client, nonsense__exact="1")

    assert response.status_code == 302
    assert response["Location"].endswith("/admin/programs/membership/?e=1")


def test_the_excel_file_keeps_numbers_as_numbers_and_formulas_as_text(manager_client, world):
    anna = world["anna"]

    response = export(manager_client, "xlsx", program__id__exact=world["program"].pk)

    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('.xlsx"')
    header, anna_row, bert_row = xlsx_rows(response)
    assert list(header) == HEADER
    assert anna_row[:13] == (
        anna.pk, anna.card_number, "Kaffeeclub", "Anna", "Alt", "anna@example.com", "Deutsch",
        "Aktiv", "Gold", 120, 15, 72.5, "ja",
    )  # fmt: skip
    assert anna_row[13] == datetime(2026, 3, 2)
    assert anna_row[14] == datetime(2026, 4, 2, 10, 15, 42)
    assert bert_row[3:5] == (INJECTION, "-Berg")
    assert bert_row[9] == -30

    cells = xlsx_cells(export(manager_client, "xlsx", program__id__exact=world["program"].pk))
    name, last_name, available = cells[2][3], cells[2][4], cells[2][9]
    assert (name.data_type, last_name.data_type) == ("s", "s")  # text, not a formula
    assert available.data_type == "n"  # -30 is the number -30


def test_english_columns_on_the_english_admin(manager_client, world):
    rows = csv_rows(export(manager_client, prefix="/en", q="anna@example.com"))

    assert rows[0][:3] == ["Membership id", "Card number", "Program"]
    assert rows[1][6:8] == ["German", "Active"]
    translation.activate("de")


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("Kundenservice", False), ("Finanzen", False), ("Programm-Management", True)],
)
def test_only_roles_that_export_segments_export_members(client, world, role, allowed):
    client.force_login(staff_in(role))

    response = export(client)
    page = client.get(reverse("admin:programs_membership_changelist"), {"status__exact": "active"})

    assert response.status_code == (200 if allowed else 403)
    export_url = reverse("admin:programs_membership_export", args=["csv"])
    if allowed:
        assert f'href="{export_url}?status__exact=active"' in page.content.decode()
    elif page.status_code == 200:  # Kundenservice sees the list, without the buttons
        assert export_url not in page.content.decode()


def test_each_export_is_in_the_audit_log(manager_client, world):
    csv_rows(export(manager_client, status__exact="active"))

    entry = AuditEntry.objects.get(action="export_members")
    assert entry.actor_name == "programm_management_export"
    assert entry.model == "programs.membership"
    assert entry.object_repr.endswith(": status__exact=active")  # the list's filter
    assert entry.action_label.endswith(" (CSV)")


def _members(program, count: int) -> None:
    start = Customer.objects.count()
    emails = [f"viele{start + i}@example.com" for i in range(count)]
    customers = Customer.objects.bulk_create(
        Customer(email=email, email_normalized=email, first_name="Viele", last_name="Muster")
        for email in emails
    )
    Membership.objects.bulk_create(
        Membership(customer=customer, program=program, joined_at=JOINED,
                   referral_code=f"V{customer.pk}")
        for customer in customers
    )  # fmt: skip


def test_the_queries_do_not_grow_with_the_members(client, world):
    client.force_login(StaffFactory())
    program = world["program"]
    _members(program, 48)

    def queries_for_export() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            rows = csv_rows(export(client, program__id__exact=program.pk))
        return len(rows) - 1, len(queries)

    fifty, queries_fifty = queries_for_export()
    _members(program, 450)
    five_hundred, queries_five_hundred = queries_for_export()

    assert (fifty, five_hundred) == (50, 500)
    assert queries_five_hundred == queries_fifty
