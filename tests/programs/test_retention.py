"""Retention: customers inactive past the policy are anonymised by the nightly job; those
with unspent points are told a month before; the ledger stays as it was."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db.models import Sum
from django.utils import timezone

from customers import privacy
from customers.models import Customer
from customers.preferences import PREFERENCE_FIELDS, customer_preferences_update
from loyalty_site.core.models import AuditEntry
from programs.models import LedgerEntry, Membership, MembershipStatus
from programs.notifications.emails import notification_emails_send
from programs.notifications.models import Notification, NotificationKind
from programs.notifications.texts import notification_email_render
from programs.services.actions import points_adjust
from programs.services.memberships import membership_enroll
from programs.services.retention import (
    retention_due,
    retention_report,
    retention_run,
    years_before,
)
from programs.services.rewards import reward_redeem
from programs.tasks import anonymise_inactive_customers_task
from tests.factories import (
    CustomerFactory,
    ProgramFactory,
    RewardFactory,
    StaffFactory,
    UserFactory,
    standard_tiers,
)

NOW = timezone.now()
YEAR = timedelta(days=365)


@pytest.fixture
def program(db):
    program = ProgramFactory(expiry_policy="never")
    standard_tiers(program)
    return program


def member(program, *, since, user=None, **fields):
    """A customer (and membership) whose record and enrolment date from ``since``."""
    customer = CustomerFactory(user=user, **fields)
    membership, _ = membership_enroll(customer=customer, program=program)
    Customer.objects.filter(pk=customer.pk).update(created_at=since)
    Membership.objects.filter(pk=membership.pk).update(joined_at=since)
    return customer, membership


def points_of(membership, points):
    points_adjust(
        membership=membership,
        points=points,
        reason="test",
        user=StaffFactory(),
        idempotency_key=f"retention-{membership.pk}",
    )
    # the adjustment itself is not the customer's activity: nothing in the policy counts it


def ledger_sums(membership):
    return LedgerEntry.objects.filter(membership=membership).aggregate(
        points=Sum("points"), pending=Sum("pending_points")
    )


def test_a_customer_inactive_past_the_policy_is_anonymised_and_the_ledger_kept(
    program, buy, settings
):
    settings.RETENTION_INACTIVE_YEARS = 3
    customer, membership = member(program, since=NOW - 5 * YEAR, first_name="Erika")
    buy(membership, "49.90", occurred_at=NOW - 4 * YEAR)
    # no e-mail address: no notice to wait for
    Customer.objects.filter(pk=customer.pk).update(email="", email_normalized="")
    membership.refresh_from_db()
    before, balance = ledger_sums(membership), membership.balance
    assert balance > 0

    run = retention_run(now=NOW)

    assert run.anonymised == [customer.pk]
    customer.refresh_from_db()
    membership.refresh_from_db()
    assert customer.anonymized_at is not None
    assert customer.first_name == customer.last_name == ""
    assert membership.status == MembershipStatus.CLOSED  # as the erasure does
    assert ledger_sums(membership) == before
    assert membership.balance == balance
    entry = AuditEntry.objects.get(customer_id=customer.pk, action="retention_anonymise")
    assert entry.actor_id is None
    assert "3 years" in entry.note
    # a second night finds nothing more to do
    assert retention_run(now=NOW).anonymised == []


def test_the_nightly_task_runs_the_job(program):
    customer, _membership = member(program, since=NOW - 4 * YEAR)
    assert anonymise_inactive_customers_task() == 1
    customer.refresh_from_db()
    assert customer.anonymized_at is not None


def test_each_kind_of_activity_keeps_the_account(program, buy, settings, system):
    settings.RETENTION_INACTIVE_YEARS = 3
    recent = NOW - YEAR
    inactive, _ = member(program, since=NOW - 5 * YEAR)
    created, _ = member(program, since=NOW - 5 * YEAR)
    Customer.objects.filter(pk=created.pk).update(created_at=recent)  # e.g. imported again
    joined, _ = member(program, since=NOW - 5 * YEAR)
    Membership.objects.filter(customer=joined).update(joined_at=recent)
    logged_in, _ = member(program, since=NOW - 5 * YEAR, user=UserFactory(last_login=recent))
    shopped, shopper = member(program, since=NOW - 5 * YEAR)
    buy(shopper, "20.00", occurred_at=recent)
    redeemed, redeemer = member(program, since=NOW - 5 * YEAR)
    buy(redeemer, "150.00", occurred_at=NOW - 4 * YEAR)
    reward_redeem(
        membership=redeemer, reward=RewardFactory(program=program), actor=system, at=recent
    )

    due = set(retention_due(NOW).values_list("pk", flat=True))
    assert due == {inactive.pk}
    run = retention_run(now=NOW)
    assert run.anonymised == [inactive.pk]
    kept = [created, joined, logged_in, shopped, redeemed]
    assert not Customer.objects.filter(pk__in=[c.pk for c in kept], anonymized_at__isnull=False)


def test_staff_and_anonymised_customers_are_left_alone(program):
    staff_member, _ = member(program, since=NOW - 5 * YEAR, user=StaffFactory())
    gone, _ = member(program, since=NOW - 5 * YEAR)
    privacy.customer_anonymize(customer=gone, user=None)
    assert not retention_due(NOW).filter(pk__in=[staff_member.pk, gone.pk]).exists()
    assert retention_run(now=NOW).anonymised == []


def test_customers_with_points_are_told_once_and_anonymised_after_the_notice(program, settings):
    settings.RETENTION_INACTIVE_YEARS = 3
    settings.RETENTION_NOTICE_DAYS = 30
    # due in 20 days; with points, one without points, one with points already past due
    soon, soon_membership = member(program, since=years_before(NOW, 3) + timedelta(days=20))
    points_of(soon_membership, 250)
    empty, _ = member(program, since=years_before(NOW, 3) + timedelta(days=20))
    overdue, overdue_membership = member(program, since=NOW - 5 * YEAR)
    points_of(overdue_membership, 80)

    run = retention_run(now=NOW)

    assert run.noticed == 2
    assert run.anonymised == []  # the one overdue waits for its notice to run out
    notices = Notification.objects.filter(kind=NotificationKind.RETENTION_NOTICE)
    assert set(notices.values_list("customer_id", flat=True)) == {soon.pk, overdue.pk}
    notice = notices.get(customer=soon)
    assert notice.params["points"] == 250
    assert notice.email_state == "pending"
    email = notification_email_render(notice)
    assert "250" in email.text
    assert "gelöscht" in email.subject
    assert "melden Sie sich" in email.text

    # the next nights: no second notice
    again = retention_run(now=NOW + timedelta(days=1))
    assert again.noticed == 0
    assert notices.count() == 2

    # a month after the notice both are anonymised; the one without points went on its day
    later = retention_run(now=NOW + timedelta(days=31))
    assert set(later.anonymised) == {soon.pk, overdue.pk, empty.pk}


def test_the_notice_is_in_english_for_english_customers(program):
    customer, membership = member(program, since=NOW - 5 * YEAR, language="en")
    points_of(membership, 1200)
    retention_run(now=NOW)
    notice = Notification.objects.get(customer=customer, kind=NotificationKind.RETENTION_NOTICE)
    email = notification_email_render(notice)
    assert "will be deleted" in email.subject
    assert "1,200" in email.text
    assert "log in or shop" in email.text


def test_the_notice_is_mailed_even_with_every_topic_switched_off(program):
    customer, membership = member(program, since=NOW - 5 * YEAR, email="lange-weg@example.com")
    points_of(membership, 40)
    customer_preferences_update(customer, **dict.fromkeys(PREFERENCE_FIELDS, False))
    retention_run(now=NOW)
    notice = Notification.objects.get(customer=customer, kind=NotificationKind.RETENTION_NOTICE)
    mail.outbox.clear()
    notification_emails_send([notice.pk])
    assert [m.to for m in mail.outbox] == [["lange-weg@example.com"]]
    assert "Ihr Kundenkonto wird am" in mail.outbox[0].subject


def test_activity_after_the_notice_keeps_the_account_and_starts_a_new_period(program, buy):
    customer, membership = member(program, since=NOW - 5 * YEAR)
    points_of(membership, 100)
    noticed_on = NOW - timedelta(days=40)
    assert retention_run(now=noticed_on).noticed == 1
    buy(membership, "10.00", occurred_at=NOW - timedelta(days=5))
    assert retention_run(now=NOW).anonymised == []
    customer.refresh_from_db()
    assert customer.anonymized_at is None
    # three years later, inactive again: a new notice for the new period
    assert retention_run(now=NOW + 3 * YEAR).noticed == 1
    assert Notification.objects.filter(customer=customer).count() == 2


def test_a_failing_customer_does_not_stop_the_others(program, monkeypatch):
    first, _ = member(program, since=NOW - 5 * YEAR)
    broken, broken_membership = member(program, since=NOW - 5 * YEAR)
    last, _ = member(program, since=NOW - 5 * YEAR)

    def fail_for_one(*, customer, user):
        if customer.pk == broken.pk:
            raise RuntimeError("survey store unavailable")

    monkeypatch.setitem(privacy._STEPS, "zz test: fails", fail_for_one)
    run = retention_run(now=NOW)

    assert set(run.anonymised) == {first.pk, last.pk}
    assert run.failed == [(broken.pk, "RuntimeError: survey store unavailable")]
    broken.refresh_from_db()
    broken_membership.refresh_from_db()
    assert broken.anonymized_at is None  # nothing of it half done
    assert broken.email
    assert broken_membership.status == MembershipStatus.ACTIVE


def test_the_report_lists_exactly_who_is_due_in_the_next_30_days(program, settings):
    settings.RETENTION_INACTIVE_YEARS = 3
    cutoff = years_before(NOW, 3)
    overdue, _ = member(program, since=cutoff - timedelta(days=2))
    in_ten_days, _ = member(program, since=cutoff + timedelta(days=10))
    in_forty_days, _ = member(program, since=cutoff + timedelta(days=40))
    active, _ = member(program, since=NOW - YEAR)

    rows = retention_report(now=NOW)

    assert [row.customer.pk for row in rows] == [overdue.pk, in_ten_days.pk]
    assert rows[1].delete_on == timezone.localdate(NOW + timedelta(days=10))
    assert rows[0].points == 0
    assert in_forty_days.pk not in {row.customer.pk for row in rows}
    assert active.pk not in {row.customer.pk for row in rows}
