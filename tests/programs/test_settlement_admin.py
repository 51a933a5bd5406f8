"""The staff page "Abrechnung": the settlement table of a program and month, its CSV file,
and who may open it."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from programs.settlement import last_month
from tests.factories import StaffFactory, UserFactory
from tests.programs.settlement_world import coalition_build

pytestmark = pytest.mark.django_db

URL = "admin:programs_ledgerentry_settlement"


@pytest.fixture
def coalition():
    return coalition_build()


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


def page(client, **query):
    return client.get(reverse(URL), query)


def test_the_page_shows_each_partner_and_the_operator(staff_client, coalition):
    response = page(staff_client, program=coalition.program.pk, month="2026-03")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Abrechnung Stadtkarte für 03/2026" in html
    assert "Bäckerei Korn" in html
    assert "Betreiber (Stadtkarte)" in html
    assert "10,25 EUR" in html  # A owes the operator
    assert "-6,25 EUR" in html  # the operator's own row
    assert "6,50 EUR" in html  # the program's net
    assert "schuldet dem Betreiber" in html
    assert "Die Summen stimmen mit den Buchungen des Monats überein." in html


def test_the_csv_holds_the_same_figures_in_german_columns(staff_client, coalition):
    response = page(staff_client, program=coalition.program.pk, month="2026-03", export="csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="abrechnung-stadtkarte-2026-03.csv"' in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header == [
        "Partner",
        "Punkte ausgegeben",
        "Punkte eingelöst",
        "davon eingelöst, noch nicht verwendet",
        "davon verfallen",
        "Wert ausgegeben",
        "Wert eingelöst",
        "Saldo",
        "Richtung",
        "Währung",
    ]
    assert rows == [
        [
            "Bäckerei Korn", "265", "60", "0", "0", "13.25", "3.00", "10.25",
            "schuldet dem Betreiber", "EUR",
        ],
        [
            "Buchhandlung Seite", "150", "100", "0", "0", "7.50", "5.00", "2.50",
            "schuldet dem Betreiber", "EUR",
        ],
        ["Betreiber (Stadtkarte)", "15", "140", "100", "40", "0.75", "7.00", "-6.25", "", "EUR"],
        ["Summe", "430", "300", "100", "40", "21.50", "15.00", "6.50", "", "EUR"],
    ]  # fmt: skip


def test_without_a_choice_it_shows_last_month(staff_client, coalition):
    response = page(staff_client)

    assert response.status_code == 200
    assert response.context["form"].cleaned_data["month"] == last_month()
    assert response.context["program"] == coalition.program


def test_a_bad_month_is_explained(staff_client, coalition):
    response = page(staff_client, program=coalition.program.pk, month="März")

    assert response.status_code == 200
    assert "Bitte den Monat als JJJJ-MM angeben, z. B. 2026-03." in response.content.decode()
    assert "rows" not in response.context


def test_only_staff_who_may_view_the_ledger(client, coalition):
    clerk = UserFactory(is_staff=True)
    client.force_login(clerk)
    assert page(client, program=coalition.program.pk, month="2026-03").status_code == 403

    clerk.user_permissions.add(
        Permission.objects.get(codename="view_ledgerentry", content_type__app_label="programs")
    )
    assert page(client, program=coalition.program.pk, month="2026-03").status_code == 200


def test_the_ledger_list_leads_to_the_page(staff_client, coalition):
    html = staff_client.get(reverse("admin:programs_ledgerentry_changelist")).content.decode()
    assert reverse(URL) in html
    assert "Abrechnung" in html
