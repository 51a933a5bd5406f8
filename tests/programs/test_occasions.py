"""Birthday and membership anniversary bonuses: given by the daily job once a year per
member (a second run, a catch-up of missed days and a concurrent run give nothing twice),
29 February on 28 February in other years, only to active members of active programs, with
a notification in the member's language whose e-mail leaves after the commit."""

import logging
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from customers.preferences import customer_preferences_update
from customers.privacy import customer_anonymize
from programs.models import (
    EntrySource,
    LedgerEntry,
    Membership,
    MembershipStatus,
    PartnerCustomer,
    ReturnPolicy,
    WebhookEvent,
    WebhookEventType,
)
from programs.notifications.models import EmailState, Notification, NotificationKind
from programs.services import occasions
from programs.services.memberships import membership_enroll
from programs.services.occasions import occasions_award
from programs.services.purchase_refunds import purchase_refund
from programs.services.rewards import reward_redeem
from programs.services.webhooks import webhook_subscription_create
from programs.tasks import award_occasions_task
from tests.factories import (
    CustomerFactory,
    PartnerFactory,
    ProgramFactory,
    RewardFactory,
    StaffFactory,
)
from tests.programs.bookkeeping import assert_books_balance, program_set
from tests.programs.test_award_poison import poison
from tests.programs.test_concurrency import no_errors, results_of, run_concurrently

BIRTHDAY, ANNIVERSARY = 250, 100


def local(*args) -> datetime:
    return timezone.make_aware(datetime(*args))


@pytest.fixture
def program(db):
    return ProgramFactory(birthday_points=BIRTHDAY, anniversary_points=ANNIVERSARY)


def member(program, *, born=None, joined=None, **customer) -> Membership:
    membership, _ = membership_enroll(
        customer=CustomerFactory(birth_date=born, **customer),
        program=program,
        joined_at=joined or local(2015, 1, 5, 12),
    )
    return membership


def bonuses(membership) -> list[tuple[str, int, date]]:
    """The member's occasion entries: (reason, points, local day it counts)."""
    entries = LedgerEntry.objects.filter(membership=membership, source=EntrySource.OCCASION)
    return [
        (e.reason, e.points, timezone.localdate(e.effective_at))
        for e in entries.order_by("effective_at", "id")
    ]


def test_birthday_bonus_once_a_year(program):
    anna = member(program, born=date(1990, 6, 15))
    other = member(program, born=date(1990, 6, 16))

    assert occasions_award(today=date(2024, 6, 15)) == 1
    assert occasions_award(today=date(2024, 6, 15)) == 0  # run twice on the day
    assert occasions_award(today=date(2024, 6, 16)) == 1  # the other's day; anna's not again
    assert occasions_award(today=date(2025, 6, 15)) == 1

    assert bonuses(anna) == [
        ("Geburtstagsbonus 2024", BIRTHDAY, date(2024, 6, 15)),
        ("Geburtstagsbonus 2025", BIRTHDAY, date(2025, 6, 15)),
    ]
    assert bonuses(other) == [("Geburtstagsbonus 2024", BIRTHDAY, date(2024, 6, 16))]
    anna.refresh_from_db()
    assert anna.balance == 2 * BIRTHDAY
    assert_books_balance(anna)


def test_missed_days_are_caught_up_but_never_given_twice(program):
    anna = member(program, born=date(1990, 6, 15))
    # the worker was down on the 15th and 16th
    assert occasions_award(today=date(2024, 6, 17)) == 1
    assert bonuses(anna) == [("Geburtstagsbonus 2024", BIRTHDAY, date(2024, 6, 15))]
    for day in (date(2024, 6, 15), date(2024, 6, 18)):
        assert occasions_award(today=day) == 0
    assert occasions_award(today=date(2024, 6, 18), since=date(2024, 6, 1)) == 0
    # a birthday further back than the catch-up window is not made up for
    late = member(program, born=date(1990, 6, 10))
    assert occasions_award(today=date(2024, 6, 17)) == 0
    assert bonuses(late) == []


def test_a_backfill_gives_the_points_without_a_weeks_late_greeting(program):
    anna = member(program, born=date(1990, 3, 1))  # joined 5 January 2015
    ben = member(program, born=date(1990, 6, 13))

    assert occasions_award(today=date(2024, 6, 15), since=date(2023, 1, 1)) == 8

    assert [reason for reason, _points, _day in bonuses(anna)] == [
        "Mitgliedsjubiläum: 8 Jahre",
        "Geburtstagsbonus 2023",
        "Mitgliedsjubiläum: 9 Jahre",
        "Geburtstagsbonus 2024",
    ]
    assert not Notification.objects.filter(membership=anna).exists()
    [note] = Notification.objects.filter(membership=ben)  # two days ago: still a greeting
    assert note.params["day"] == "2024-06-13"
    assert occasions_award(today=date(2024, 6, 15), since=date(2023, 1, 1)) == 0


def test_anniversary_from_the_first_year_not_on_the_joining_day(program):
    ben = member(program, joined=local(2021, 3, 10, 0, 30))  # 9 March in UTC: local counts

    assert occasions_award(today=date(2021, 3, 10)) == 0
    assert occasions_award(today=date(2022, 3, 10)) == 1
    assert occasions_award(today=date(2024, 3, 10)) == 1
    assert occasions_award(today=date(2024, 3, 11)) == 0

    assert bonuses(ben) == [
        ("Mitgliedsjubiläum: 1 Jahr", ANNIVERSARY, date(2022, 3, 10)),
        ("Mitgliedsjubiläum: 3 Jahre", ANNIVERSARY, date(2024, 3, 10)),
    ]


def test_29_february_falls_on_28_february_in_other_years(program):
    leap_child = member(program, born=date(2000, 2, 29), joined=local(2020, 2, 29, 9))

    assert occasions_award(today=date(2021, 2, 28)) == 2  # birthday and first anniversary
    assert occasions_award(today=date(2021, 3, 1)) == 0
    assert occasions_award(today=date(2024, 2, 28)) == 0  # a leap year: not yet
    assert occasions_award(today=date(2024, 2, 29)) == 2

    assert [(reason, day) for reason, _points, day in bonuses(leap_child)] == [
        ("Geburtstagsbonus 2021", date(2021, 2, 28)),
        ("Mitgliedsjubiläum: 1 Jahr", date(2021, 2, 28)),
        ("Geburtstagsbonus 2024", date(2024, 2, 29)),
        ("Mitgliedsjubiläum: 4 Jahre", date(2024, 2, 29)),
    ]


def test_a_bonus_of_0_points_is_off(program):
    program_set(program, birthday_points=0)
    carla = member(program, born=date(1985, 4, 1), joined=local(2020, 4, 1, 9))
    assert occasions_award(today=date(2024, 4, 1)) == 1
    assert bonuses(carla) == [("Mitgliedsjubiläum: 4 Jahre", ANNIVERSARY, date(2024, 4, 1))]
    program_set(program, anniversary_points=0)
    assert occasions_award(today=date(2025, 4, 1)) == 0


def test_no_bonus_for_members_who_joined_after_their_birthday(program):
    late = member(program, born=date(1980, 5, 2), joined=local(2024, 5, 3, 10))
    assert occasions_award(today=date(2024, 5, 4)) == 0
    same_day = member(program, born=date(1980, 5, 3), joined=local(2024, 5, 3, 10))
    assert occasions_award(today=date(2024, 5, 4)) == 1
    assert bonuses(late) == []
    [(_reason, _points, day)] = bonuses(same_day)
    assert day == date(2024, 5, 3)
    entry = LedgerEntry.objects.get(membership=same_day)
    assert entry.effective_at == same_day.joined_at  # not before joining


def test_inactive_and_anonymised_members_get_nothing(program):
    born = date(1970, 8, 20)
    suspended = member(program, born=born)
    closed = member(program, born=born)
    erased = member(program, born=born)
    half_erased = member(program, born=born)  # anonymised, the closing step not yet run
    Membership.objects.filter(pk=suspended.pk).update(status=MembershipStatus.SUSPENDED)
    Membership.objects.filter(pk=closed.pk).update(status=MembershipStatus.CLOSED)
    customer_anonymize(customer=erased.customer, user=StaffFactory())
    half_erased.customer.anonymized_at = timezone.now()
    half_erased.customer.save()
    active = member(program, born=born)

    assert occasions_award(today=date(2024, 8, 20)) == 1
    assert [m.pk for m in Membership.objects.filter(entries__source=EntrySource.OCCASION)] == [
        active.pk
    ]
    program_set(program, is_active=False)
    assert occasions_award(today=date(2025, 8, 20)) == 0


def test_one_failing_member_does_not_stop_the_others(program, monkeypatch, caplog):
    monkeypatch.setattr(occasions, "BATCH", 4)
    members = [member(program, born=date(1990, 9, 9)) for _ in range(6)]
    poison(members[2])  # any award to it overflows in the database

    with caplog.at_level(logging.ERROR, logger="loyalty_site.batches"):
        assert occasions_award(today=date(2024, 9, 9)) == 5

    assert bonuses(members[2]) == []
    assert all(len(bonuses(m)) == 1 for m in members if m != members[2])
    assert f"parked {members[2].pk}" in caplog.text
    assert "out of range" in caplog.text
    # repaired, it gets its bonus with the next day's run (within the catch-up window)
    Membership.objects.filter(pk=members[2].pk).update(lifetime_earned=0)
    assert occasions_award(today=date(2024, 9, 10)) == 1
    assert bonuses(members[2]) == [("Geburtstagsbonus 2024", BIRTHDAY, date(2024, 9, 9))]


def test_a_bonus_pays_back_an_open_debt_first(program, buy, system):
    program_set(program, return_policy=ReturnPolicy.ALLOW_NEGATIVE)
    debtor = member(program, born=date(1990, 7, 1))
    purchase = buy(debtor, "100.00")
    reward = RewardFactory(program=program, points_cost=100)
    reward_redeem(membership=debtor, reward=reward, actor=system)
    purchase_refund(purchase=purchase, refund_id="R-1", amount=Decimal("100.00"), actor=system)
    debtor.refresh_from_db()
    assert (debtor.balance, debtor.debt) == (0, 100)

    assert occasions_award(today=date(2024, 7, 1)) == 1

    debtor.refresh_from_db()
    assert (debtor.balance, debtor.debt) == (BIRTHDAY - 100, 0)
    assert_books_balance(debtor)


def test_notification_e_mailed_after_the_commit_in_german(
    program, django_capture_on_commit_callbacks
):
    anna = member(program, born=date(1990, 6, 15), joined=local(2021, 6, 15, 9))
    customer_preferences_update(anna.customer, email_marketing=True)
    quiet = member(program, born=date(1990, 6, 15))  # never opted in to marketing e-mail

    with django_capture_on_commit_callbacks() as callbacks:
        occasions_award(today=date(2024, 6, 15))
        assert mail.outbox == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()

    birthday, anniversary = Notification.objects.filter(membership=anna).order_by("id")
    assert (birthday.kind, anniversary.kind) == (NotificationKind.OCCASION,) * 2
    assert sorted(m.subject for m in mail.outbox) == [
        "Alles Gute zum Geburtstag!",
        "Danke für 3 Jahre Treue!",
    ]
    text = next(m.body for m in mail.outbox if "Geburtstag" in m.subject)
    assert f"{program.name} schenkt Ihnen zum Geburtstag 250 Punkte." in text
    assert all(m.to == [anna.customer.email] for m in mail.outbox)
    [note] = Notification.objects.filter(membership=quiet)
    assert note.email_state == EmailState.SKIPPED  # the feed has it, the inbox does not
    assert note.message.title == "Alles Gute zum Geburtstag!"

    occasions_award(today=date(2024, 6, 16))
    assert Notification.objects.count() == 3  # not notified twice


def test_english_member_reads_english(program, django_capture_on_commit_callbacks):
    tom = member(program, joined=local(2023, 10, 1, 9), language="en")
    customer_preferences_update(tom.customer, email_marketing=True)
    with django_capture_on_commit_callbacks(execute=True):
        occasions_award(today=date(2024, 10, 1))
    [message] = mail.outbox
    assert message.subject == "Thank you for 1 year with us!"
    assert "gives you 100 points for your membership anniversary" in message.body


def test_partners_hear_of_the_points_as_of_any_other(program, django_capture_on_commit_callbacks):
    shop = PartnerFactory(programs=[program])
    webhook_subscription_create(
        partner=shop, url="https://shop.example/hook", events=[WebhookEventType.POINTS_AWARDED]
    )
    anna = member(program, born=date(1990, 6, 15))
    PartnerCustomer.objects.create(partner=shop, customer=anna.customer, external_id="K-1")
    occasions_award(today=date(2024, 6, 15))
    [event] = WebhookEvent.objects.filter(partner=shop)
    data = event.payload["data"]
    assert event.type == "points.awarded"
    assert (data["member"], data["points"], data["source"]) == ("K-1", BIRTHDAY, "occasion")
    assert data["reason"] == "Geburtstagsbonus 2024"


def test_the_daily_task_gives_todays_birthdays(program):
    today = timezone.localdate()
    anna = member(program, born=date(1992, today.month, today.day), joined=local(2020, 1, 1, 9))
    assert award_occasions_task.delay().get() == 1
    assert bonuses(anna) == [(f"Geburtstagsbonus {today.year}", BIRTHDAY, today)]


def test_program_admin_shows_the_occasions(client, program):
    client.force_login(StaffFactory())
    page = client.get(reverse("admin:programs_program_change", args=[program.pk]))
    html = page.content.decode()
    assert "Anlässe" in html
    assert 'name="birthday_points" value="250"' in html
    assert 'name="anniversary_points" value="100"' in html


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_give_each_bonus_once(program, monkeypatch, caplog):
    monkeypatch.setattr(occasions, "BATCH", 3)  # several batches, locked in id order
    members = [member(program, born=date(1990, 6, 15)) for _ in range(10)]

    with caplog.at_level(logging.WARNING, logger="loyalty_site.batches"):
        outcomes = run_concurrently(2, lambda _i: occasions_award(today=date(2024, 6, 15)))

    no_errors(outcomes)
    assert caplog.records == []  # the second run saw the first's bonuses: no failed write
    assert sum(results_of(outcomes)) == 10
    assert LedgerEntry.objects.filter(source=EntrySource.OCCASION).count() == 10
    assert Notification.objects.filter(kind=NotificationKind.OCCASION).count() == 10
    for membership in members:
        membership.refresh_from_db()
        assert membership.balance == BIRTHDAY
        assert_books_balance(membership)
