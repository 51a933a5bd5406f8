"""Members import: dry run first, then exactly what it showed; bad rows listed with line
and column; a second run writes nothing; opening balances keep the books balanced."""

import io
from datetime import date

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from customers.models import CommunicationPreferences, Customer
from programs.imports.commits import import_cancel, import_commit, import_confirm
from programs.imports.uploads import import_create
from programs.models import (
    EntryKind,
    ImportJob,
    ImportRowError,
    ImportStatus,
    LedgerEntry,
    Membership,
    PartnerCustomer,
    PointLot,
)
from programs.services.due import ledger_drift
from tests.factories import UserFactory
from tests.programs.bookkeeping import assert_books_balance

pytestmark = pytest.mark.django_db

GOOD = (
    "Kundennummer;E-Mail;Vorname;Nachname;Newsletter;Stufe;Punktestand;Gesammelt am;Verfall\n"
    "K-1;anna@example.org;Anna;Schröder;ja;Gold;1.500;01.03.2025;31.12.2030\n"
    "K-2;bernd@example.org;Bernd;Müller;nein;;250;;\n"
    "K-3;;Carla;Weiß;;Silber;;;\n"
)


@pytest.fixture
def manager(db):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="Programm-Management"))
    return user


def upload(partner, program, content, *, user, encoding="utf-8", name="mitglieder.csv", **opts):
    data = content.encode(encoding) if isinstance(content, str) else content
    return import_create(
        kind="members",
        partner=partner,
        program=program,
        file=io.BytesIO(data),
        file_name=name,
        user=user,
        **opts,
    )


def confirm_and_run(job):
    import_confirm(job, digest=job.plan_digest)
    import_commit(job.pk)
    job.refresh_from_db()
    return job


def test_dry_run_shows_what_will_happen_and_writes_nothing(partner, program, tiers, manager):
    job = upload(partner, program, GOOD, user=manager)

    assert job.status == ImportStatus.CHECKED
    assert job.summary["rows"] == 3
    assert job.summary["errors"] == 0
    assert job.summary["actions"] == {"create": 3}
    assert job.summary["points"] == 1750
    assert job.summary["format"]["delimiter"] == ";"
    assert job.summary["format"]["encoding"] == "utf-8"
    assert not Customer.objects.exists()
    assert not LedgerEntry.objects.exists()


def test_confirmed_import_writes_members_tiers_consents_and_balances(
    partner, program, tiers, manager
):
    job = confirm_and_run(upload(partner, program, GOOD, user=manager))

    assert job.status == ImportStatus.DONE
    assert job.rows_done == 3
    anna = PartnerCustomer.objects.get(partner=partner, external_id="K-1").customer
    assert (anna.first_name, anna.last_name, anna.email) == ("Anna", "Schröder", "anna@example.org")
    assert CommunicationPreferences.objects.get(customer=anna).email_marketing is True
    membership = Membership.objects.get(customer=anna, program=program)
    assert membership.tier == tiers["Gold"]
    assert membership.balance == 1500
    entry = LedgerEntry.objects.get(membership=membership)
    assert entry.kind == EntryKind.OPENING
    assert timezone.localdate(entry.effective_at) == date(2025, 3, 1)
    lot = PointLot.objects.get(membership=membership)
    assert timezone.localdate(lot.expires_at) == date(2030, 12, 31)
    carla = PartnerCustomer.objects.get(partner=partner, external_id="K-3").customer
    assert Membership.objects.get(customer=carla).tier == tiers["Silber"]
    bernd = Membership.objects.get(customer__first_name="Bernd")
    assert bernd.tier == tiers["Bronze"]
    assert bernd.balance == 250
    for m in Membership.objects.all():
        assert_books_balance(m)
    assert ledger_drift() == []


def test_same_file_again_is_the_same_job_and_writes_nothing(partner, program, tiers, manager):
    first = confirm_and_run(upload(partner, program, GOOD, user=manager))

    again = upload(partner, program, GOOD, user=manager)

    assert again.pk == first.pk
    assert Customer.objects.count() == 3
    assert LedgerEntry.objects.count() == 2


def test_another_file_with_the_same_members_updates_and_books_no_second_balance(
    partner, program, tiers, manager
):
    confirm_and_run(upload(partner, program, GOOD, user=manager))
    changed = GOOD.replace("Anna;Schröder", "Anna;Schröder-Lang").replace("1.500", "9.999")

    job = upload(partner, program, changed, user=manager)

    assert job.summary["actions"]["update"] == 1
    assert job.summary["actions"]["opening_already_booked"] == 2
    assert job.summary["points"] == 0
    job = confirm_and_run(job)
    anna = PartnerCustomer.objects.get(partner=partner, external_id="K-1").customer
    assert anna.last_name == "Schröder-Lang"
    assert Membership.objects.get(customer=anna).balance == 1500


BAD = (
    "external_id,program,email,first_name,opening_balance,earned_at\n"
    ",,a@example.org,Ann,10,\n"  # 2: missing id
    "X-2,nope,b@example.org,Bob,10,\n"  # 3: unknown program
    "X-3,,c@example.org,Cid,10,31.02.2025\n"  # 4: bad date
    "X-4,,d@example.org,Dan,-5,\n"  # 5: negative balance
    "X-5,,e@example.org,Eve Schröder,10,\n"  # 6: fine
    "X-5,,e@example.org,Eve Schröder,10,\n"  # 7: duplicate row
    'X-7,,f@example.org,"=HYPERLINK(""http://evil"",""x"")",10,\n'  # 8: formula
    "X-8,,not-an-address,Gus,10,\n"  # 9: bad e-mail
)


def test_every_kind_of_bad_row_is_listed_and_nothing_is_written(partner, program, tiers, manager):
    content = BAD.encode() + "X-9,,h@example.org,J\xf6rg,10,\n".encode("cp1252")  # 10: encoding

    job = upload(partner, program, content, user=manager, encoding=None)

    errors = {e.line: e for e in ImportRowError.objects.filter(job=job)}
    assert sorted(errors) == [2, 3, 4, 5, 7, 8, 9, 10]
    assert errors[2].column == "external_id"
    assert errors[3].column == "program"
    assert "nope" in errors[3].message
    assert errors[4].column == "earned_at"
    assert errors[5].column == "opening_balance"
    assert "6" in errors[7].message
    assert errors[7].column == "external_id"
    assert errors[8].column == "first_name"
    assert errors[9].column == "email"
    assert errors[10].column == "first_name"
    assert "UTF-8" in errors[10].message
    assert job.summary["valid"] == 1
    assert not Customer.objects.exists()


def test_messages_are_german_by_default(partner, program, tiers, manager):
    job = upload(partner, program, "external_id;first_name\n;Ann\n", user=manager)

    error = ImportRowError.objects.get(job=job)
    assert "Kundennummer" in error.message
    assert "fehlt" in error.message


def test_windows_1252_file_with_decimal_comma_is_detected(partner, program, tiers, manager):
    content = "Kundennummer;Vorname;Punktestand\nK-1;Jörg;1.234\n".encode("cp1252")

    job = confirm_and_run(upload(partner, program, content, user=manager, encoding=None))

    assert job.summary["format"]["encoding"] == "cp1252"
    customer = Customer.objects.get()
    assert customer.first_name == "Jörg"
    assert Membership.objects.get().balance == 1234


def test_missing_required_column_fails_the_file_with_the_header_it_found(
    partner, program, tiers, manager
):
    job = upload(partner, program, "Name;Punkte\nAnn;10\n", user=manager)

    assert job.status == ImportStatus.FAILED
    assert "external_id" in job.message
    assert "Name, Punkte" in job.message


def test_data_changed_after_the_dry_run_stops_the_import_with_a_new_dry_run(
    partner, program, tiers, manager
):
    job = upload(partner, program, GOOD, user=manager)
    import_confirm(job, digest=job.plan_digest)
    # meanwhile the partner enrolled K-2 through the API
    other = Customer.objects.create(first_name="Bernd")
    PartnerCustomer.objects.create(partner=partner, customer=other, external_id="K-2")

    import_commit(job.pk)

    job.refresh_from_db()
    assert job.status == ImportStatus.CHECKED
    assert "changed" in job.message or "geändert" in job.message
    assert job.summary["actions"] == {"create": 2, "update": 1}
    assert Customer.objects.count() == 1  # nothing written


def test_role_that_may_not_adjust_points_cannot_import_balances(partner, program, tiers):
    support = UserFactory(is_staff=True)
    support.groups.add(Group.objects.get(name="Kundenservice"))

    job = upload(partner, program, GOOD, user=support)

    lines = set(ImportRowError.objects.filter(job=job).values_list("line", flat=True))
    assert lines == {2, 3}  # the rows with a balance
    assert job.summary["valid"] == 1


def test_opening_balance_history_moves_the_program_start_back(partner, program, tiers, manager):
    program.history_starts_on = date(2026, 1, 1)
    program.save()
    job = upload(partner, program, GOOD, user=manager)
    assert job.summary["history"][0]["to"] == "2025-03-01"

    confirm_and_run(job)

    program.refresh_from_db()
    assert program.history_starts_on == date(2025, 3, 1)


def test_cancel_before_confirming_writes_nothing(partner, program, tiers, manager):
    job = upload(partner, program, GOOD, user=manager)

    import_cancel(job)

    job.refresh_from_db()
    assert job.status == ImportStatus.CANCELLED
    import_commit(job.pk)
    assert not Customer.objects.exists()
    assert ImportJob.objects.get().status == ImportStatus.CANCELLED
