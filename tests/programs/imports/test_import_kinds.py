"""Point adjustments and purchase history from files; a worker killed in the middle of an
import resumes from its last chunk and ends with exactly the file's rows."""

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from customers.models import Customer
from programs.imports import commits, dry_runs, members
from programs.imports.commits import import_commit, import_confirm, imports_sweep
from programs.imports.uploads import import_create
from programs.models import (
    EntryKind,
    ImportJob,
    ImportRowError,
    ImportStatus,
    LedgerEntry,
    Membership,
    PartnerCustomer,
    Purchase,
    PurchaseStatus,
    WebhookEvent,
)
from programs.services.due import ledger_drift
from programs.services.partner_members import partner_member_upsert
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(db):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="Programm-Management"))
    return user


def run(kind, partner, program, content, user, **opts):
    job = import_create(
        kind=kind,
        partner=partner,
        program=program,
        file=io.BytesIO(content.encode()),
        file_name=f"{kind}.csv",
        user=user,
        **opts,
    )
    assert job.status == ImportStatus.CHECKED, job.message
    import_confirm(job, digest=job.plan_digest)
    import_commit(job.pk)
    job.refresh_from_db()
    return job


def member(partner, program, external_id):
    upsert = partner_member_upsert(
        partner=partner,
        external_id=external_id,
        fields={"first_name": external_id},
        programs=[program],
    )
    return Membership.objects.get(customer=upsert.link.customer, program=program)


def test_point_adjustments_are_booked_once_with_their_reason(partner, program, tiers, manager):
    anna, bernd = member(partner, program, "A"), member(partner, program, "B")
    content = "Kundennummer;Punkte;Grund\nA;300;Treuebonus\nB;-50;Korrektur\nX;10;Bonus\n"

    job = run("points", partner, program, content, manager)

    anna.refresh_from_db()
    assert anna.balance == 300
    bernd.refresh_from_db()
    assert bernd.balance == 0  # had nothing to take away: a bad row, nothing booked
    lines = dict(ImportRowError.objects.filter(job=job).values_list("line", "column"))
    assert lines == {3: "points", 4: "external_id"}
    assert LedgerEntry.objects.get(membership=anna).reason == "Treuebonus"
    run_again = import_create(
        kind="points",
        partner=partner,
        program=program,
        file=io.BytesIO(content.encode()),
        file_name="again.csv",
        user=manager,
    )
    assert run_again.pk == job.pk
    assert ledger_drift() == []


def test_adjustments_above_the_roles_limit_are_refused_per_row(
    partner, program, tiers, manager, settings
):
    settings.STAFF_ADJUSTMENT_LIMIT = 1000
    member(partner, program, "A")

    job = import_create(
        kind="points",
        partner=partner,
        program=program,
        file=io.BytesIO(b"external_id,points,reason\nA,5000,Bonus\n"),
        file_name="big-bonus.csv",
        user=manager,
    )

    assert job.summary["valid"] == 0
    assert "1000" in ImportRowError.objects.get(job=job).message


def test_purchase_history_counts_toward_tiers_without_points(partner, program, tiers, manager):
    anna = member(partner, program, "A")
    day = (timezone.now() - timedelta(days=30)).strftime("%d.%m.%Y")
    content = (
        f"Kundennummer;Bestellnummer;Betrag;Datum\nA;alt-1;1.200,00;{day}\nA;alt-2;400,50;{day}\n"
    )

    run("purchases", partner, program, content, manager)

    purchases = Purchase.objects.filter(membership=anna)
    assert purchases.count() == 2
    assert set(purchases.values_list("status", "points_awarded")) == {(PurchaseStatus.AWARDED, 0)}
    anna.refresh_from_db()
    assert anna.balance == 0
    assert anna.tier == tiers["Gold"]  # 1,600.50 spent: Gold from 1,500
    assert anna.last_activity_at is not None


def test_imports_tell_nobody_unless_asked(partner, program, tiers, manager):
    member(partner, program, "A")
    WebhookEvent.objects.all().delete()

    run("points", partner, program, "Kundennummer;Punkte;Grund\nA;300;Bonus\n", manager)

    assert not WebhookEvent.objects.exists()


def test_purchase_history_with_points_awards_them(partner, program, tiers, manager):
    anna = member(partner, program, "A")
    day = (timezone.now() - timedelta(days=3)).strftime("%Y-%m-%d")

    run(
        "purchases",
        partner,
        program,
        f"external_id,order_id,amount,occurred_at\nA,o-1,100.00,{day}\n",
        manager,
        award_points=True,
    )

    assert Purchase.objects.get(membership=anna).status == PurchaseStatus.AWARDED
    assert LedgerEntry.objects.filter(membership=anna, kind=EntryKind.EARN).exists()


class Crash(BaseException):
    """A worker killed in the middle of a chunk (no exception handler sees it)."""


def test_a_killed_worker_resumes_from_its_last_chunk_without_duplicates(
    partner, program, tiers, manager, monkeypatch
):
    rows = "\n".join(f"K-{n};Name{n};{n % 7 * 10}" for n in range(2500))
    job = import_create(
        kind="members",
        partner=partner,
        program=program,
        file=io.BytesIO(f"Kundennummer;Vorname;Punktestand\n{rows}\n".encode()),
        file_name="big.csv",
        user=manager,
    )
    import_confirm(job, digest=job.plan_digest)
    real_write, calls = members.write, []

    def dying_write(context, chunk):
        calls.append(len(chunk))
        if len(calls) == 2:
            raise Crash()
        return real_write(context, chunk)

    monkeypatch.setattr(members, "write", dying_write)
    with pytest.raises(Crash):
        import_commit(job.pk)
    job.refresh_from_db()
    assert job.status == ImportStatus.COMMITTING
    assert job.rows_done == dry_runs.CHUNK
    assert Customer.objects.count() == dry_runs.CHUNK

    import_commit(job.pk)  # another delivery while the first still looks alive: waits
    assert Customer.objects.count() == dry_runs.CHUNK
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    monkeypatch.setattr(members, "write", real_write)
    assert imports_sweep() == 1
    import_commit(job.pk)

    job.refresh_from_db()
    assert job.status == ImportStatus.DONE
    assert job.rows_done == 2500
    assert Customer.objects.count() == 2500
    assert PartnerCustomer.objects.filter(partner=partner).count() == 2500
    expected = sum(n % 7 * 10 for n in range(2500))
    assert sum(Membership.objects.values_list("balance", flat=True)) == expected
    assert ledger_drift() == []


def test_purchases_older_than_the_history_start_move_it_back(partner, program, tiers, manager):
    program.history_starts_on = timezone.localdate()
    program.save()
    anna = member(partner, program, "A")
    content = "Kundennummer;Bestellnummer;Betrag;Datum\nA;alt-1;10,00;15.01.2025\n"

    job = run("purchases", partner, program, content, manager)

    assert job.summary["errors"] == 0
    assert Purchase.objects.filter(membership=anna).count() == 1
    program.refresh_from_db()
    assert program.history_starts_on.isoformat() == "2025-01-15"


def test_a_members_import_that_should_tell_announces_the_opening_balances(
    partner, program, tiers, manager
):
    from programs.models import WebhookSubscription

    WebhookSubscription.objects.create(
        partner=partner, url="https://shop.example.org/hooks", events=["points.awarded"]
    )
    content = "Kundennummer;Punktestand\nK-1;100\nK-2;0\n"

    run("members", partner, program, content, manager, notify=True)

    events = WebhookEvent.objects.filter(type="points.awarded")
    assert [e.payload["data"]["points"] for e in events] == [100]


def test_a_long_import_hands_over_to_a_new_task_after_its_time_slice(
    partner, program, tiers, manager, monkeypatch
):
    rows = "\n".join(f"K-{n};{n % 5}" for n in range(2500))
    job = import_create(
        kind="members",
        partner=partner,
        program=program,
        file=io.BytesIO(f"Kundennummer;Punktestand\n{rows}\n".encode()),
        file_name="sliced.csv",
        user=manager,
    )
    import_confirm(job, digest=job.plan_digest)
    monkeypatch.setattr(commits, "SLICE_SECONDS", 0)  # every chunk uses up the slice

    tasks = 0
    while ImportJob.objects.get(pk=job.pk).status == ImportStatus.COMMITTING:
        import_commit(job.pk)  # each run is the next task (the heartbeat was handed over)
        tasks += 1
        assert tasks < 10

    job.refresh_from_db()
    assert tasks == 3
    assert job.status == ImportStatus.DONE
    assert Customer.objects.count() == 2500


def test_a_dry_run_that_breaks_fails_the_job_with_its_reason(
    partner, program, tiers, manager, monkeypatch
):
    def broken(context, rows):
        raise RuntimeError("the member lookup broke")

    monkeypatch.setattr(members, "classify", broken)

    job = import_create(
        kind="members",
        partner=partner,
        program=program,
        file=io.BytesIO(b"Kundennummer;Punktestand\nK-1;10\n"),
        file_name="broken.csv",
        user=manager,
    )

    assert job.status == ImportStatus.FAILED
    assert "RuntimeError: the member lookup broke" in job.message
    assert not Customer.objects.exists()


def test_a_row_that_fails_alone_is_a_bad_row_and_the_others_are_imported(
    partner, program, tiers, manager, monkeypatch
):
    from programs.imports import member_writes

    real = member_writes.members_create

    def refuse_k2(context, rows):
        if any(row.external_id == "K-2" for row in rows):
            raise ValueError("K-2 cannot be stored")
        return real(context, rows)

    monkeypatch.setattr(members, "members_create", refuse_k2)

    job = run(
        "members", partner, program, "Kundennummer;Punktestand\nK-1;10\nK-2;20\nK-3;30\n", manager
    )

    assert job.status == ImportStatus.DONE
    assert set(PartnerCustomer.objects.values_list("external_id", flat=True)) == {"K-1", "K-3"}
    error = ImportRowError.objects.get(job=job)
    assert error.line == 3
    assert "K-2 cannot be stored" in error.message
