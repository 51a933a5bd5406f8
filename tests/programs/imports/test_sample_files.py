"""The sample files of docs/import.md (``docs/import-samples/``) against the code, so that
the documentation never drifts from it: each goes through the dry run into the demo's
coffee program for the demo's branch (the partner the docs use) with no bad row and the
counts and totals the docs state; the members sample is then imported and the balances
checked, and the migration walk-through (members, adjustments, purchase history) runs
to the end."""

import io
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from customers.models import CommunicationPreferences
from loyalty_site.demo.programs import COFFEE_SLUG, demo_programs_create
from programs.imports.commits import import_commit, import_confirm
from programs.imports.uploads import import_create
from programs.models import (
    EntryKind,
    ImportRowError,
    ImportStatus,
    LedgerEntry,
    Membership,
    PartnerCustomer,
    PointLot,
    Purchase,
)
from programs.services.due import ledger_drift
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parents[3] / "docs" / "import-samples"
BRANCH = "mueller-filiale-innenstadt"  # the demo partner the docs import for

# Opening balances of mitglieder.csv (M-1004 has none) and the tiers it sets.
BALANCES = {"M-1001": 2450, "M-1002": 830, "M-1003": 120, "M-1004": 0, "M-1005": 5000,
            "M-1006": 75, "M-1007": 1100}  # fmt: skip
TIERS = {"M-1001": "Gold", "M-1002": "Silber", "M-1003": "Bronze", "M-1004": "Bronze",
         "M-1005": "Platin", "M-1006": "Bronze", "M-1007": "Silber"}  # fmt: skip


@pytest.fixture
def demo(db):
    return demo_programs_create(timezone.now())


@pytest.fixture
def branch(demo):
    partner = demo.store
    assert partner.slug == BRANCH
    assert demo.coffee.slug == COFFEE_SLUG
    return partner


@pytest.fixture
def manager(db):
    """The role the docs name for balances and adjustments (up to the staff limit)."""
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="Programm-Management"))
    return user


def dry_run(kind, name, *, partner, program, user, **options):
    job = import_create(
        kind=kind,
        partner=partner,
        program=program,
        file=io.BytesIO((SAMPLES / name).read_bytes()),
        file_name=name,
        user=user,
        **options,
    )
    errors = list(ImportRowError.objects.filter(job=job).values_list("line", "column", "message"))
    assert errors == []
    assert job.status == ImportStatus.CHECKED, job.message
    assert job.summary["errors"] == 0
    assert job.summary["ignored"] == []  # every column of the sample is one the kind reads
    return job


def commit(job):
    import_confirm(job, digest=job.plan_digest)
    import_commit(job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE, job.message
    return job


def member(partner, external_id, program) -> Membership:
    link = PartnerCustomer.objects.get(partner=partner, external_id=external_id)
    return Membership.objects.get(customer_id=link.customer_id, program=program)


def test_members_sample_utf8_with_bom_dry_run_then_import(demo, branch, manager):
    job = dry_run("members", "mitglieder.csv", partner=branch, program=demo.coffee, user=manager)

    assert job.summary["rows"] == 7
    assert job.summary["actions"] == {"create": 7}
    assert job.summary["points"] == 9575
    assert job.summary["format"] == {
        "encoding": "utf-8",
        "delimiter": ";",
        "decimal": ",",
        "file": "csv",
    }
    assert not PartnerCustomer.objects.filter(partner=branch, external_id="M-1001").exists()

    commit(job)

    for external_id, balance in BALANCES.items():
        membership = member(branch, external_id, demo.coffee)
        assert membership.balance == balance, external_id
        assert membership.tier.name == TIERS[external_id], external_id
    lena = member(branch, "M-1001", demo.coffee)
    assert (lena.customer.first_name, lena.customer.email) == ("Lena", "lena.vogel@import.example")
    assert CommunicationPreferences.objects.get(customer=lena.customer).email_marketing is True
    opening = LedgerEntry.objects.get(membership=lena, kind=EntryKind.OPENING)
    assert timezone.localdate(opening.effective_at) == date(2025, 3, 15)
    lot = PointLot.objects.get(membership=lena)
    assert timezone.localdate(lot.expires_at) == date(2030, 12, 31)
    guenther = member(branch, "M-1004", demo.coffee).customer
    assert (guenther.first_name, guenther.last_name, guenther.email) == ("Günther", "Weiß", "")
    assert member(branch, "M-1003", demo.coffee).customer.first_name == "Chloé"
    assert member(branch, "M-1006", demo.coffee).customer.language == "en"
    assert ledger_drift() == []


def test_members_sample_windows_1252_is_the_same_data(demo, branch, manager):
    job = dry_run(
        "members", "mitglieder-windows.csv", partner=branch, program=demo.coffee, user=manager
    )

    assert job.summary["format"]["encoding"] == "cp1252"
    assert job.summary["actions"] == {"create": 7}
    assert job.summary["points"] == 9575
    commit(job)
    assert member(branch, "M-1004", demo.coffee).customer.last_name == "Weiß"


def test_windows_file_after_the_utf8_one_books_no_second_balance(demo, branch, manager):
    commit(dry_run("members", "mitglieder.csv", partner=branch, program=demo.coffee, user=manager))

    job = dry_run(
        "members", "mitglieder-windows.csv", partner=branch, program=demo.coffee, user=manager
    )

    assert job.summary["actions"] == {"unchanged": 7, "opening_already_booked": 6}
    assert job.summary["points"] == 0


def test_members_sample_excel_with_english_headers(demo, branch, manager):
    job = dry_run("members", "members.xlsx", partner=branch, program=demo.coffee, user=manager)

    assert job.summary["format"]["file"] == "xlsx"
    assert job.summary["rows"] == 3
    assert job.summary["actions"] == {"create": 3}
    assert job.summary["points"] == 2530
    commit(job)
    maya = member(branch, "E-2001", demo.coffee)
    assert (maya.balance, maya.tier.name) == (640, "Silber")
    assert maya.customer.birth_date == date(1988, 4, 12)
    assert timezone.localdate(maya.joined_at) == date(2024, 5, 1)
    assert member(branch, "E-2003", demo.coffee).tier.name == "Gold"
    assert member(branch, "E-2002", demo.coffee).balance == 90


def test_migration_walk_through_members_adjustments_purchase_history(demo, branch, manager):
    """docs/import.md, "A migration from another program, step by step"."""
    commit(dry_run("members", "mitglieder.csv", partner=branch, program=demo.coffee, user=manager))

    points = dry_run("points", "punkte.csv", partner=branch, program=demo.coffee, user=manager)
    assert points.summary["rows"] == 4
    assert points.summary["actions"] == {"adjust": 4}
    assert points.summary["points"] == 475
    commit(points)
    assert member(branch, "M-1001", demo.coffee).balance == 2450 + 500
    assert member(branch, "M-1002", demo.coffee).balance == 830 - 200
    assert member(branch, "M-1004", demo.coffee).balance == 150

    purchases = dry_run(
        "purchases", "kaeufe.csv", partner=branch, program=demo.coffee, user=manager
    )
    assert purchases.summary["rows"] == 6
    assert purchases.summary["actions"] == {"record": 6}
    assert purchases.summary["money"] == {"EUR": "1550.60"}
    assert purchases.summary["points"] == 0  # award points is off: the balance came above
    commit(purchases)
    stored = Purchase.objects.filter(partner=branch)
    assert stored.count() == 6
    assert stored.get(order_id="WS-2026-00412").amount == Decimal("1249.00")
    assert timezone.localtime(stored.get(order_id="FI-88213").occurred_at).date() == date(
        2026, 1, 3
    )
    assert member(branch, "M-1005", demo.coffee).balance == 5000  # no points for history
    assert ledger_drift() == []

    again = import_create(
        kind="purchases",
        partner=branch,
        program=demo.coffee,
        file=io.BytesIO((SAMPLES / "kaeufe.csv").read_bytes()),
        file_name="kaeufe-kopie.csv",
        user=manager,
    )
    assert again.pk == purchases.pk  # the same file is the same job: nothing twice
