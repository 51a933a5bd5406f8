"""Paying with points: quote, hold, capture, void, expiry and the refund of the order, as
the member's balance and the lots show them. A point is worth 0.01 EUR (the factory's
program); every euro of a purchase earns one point (no tiers)."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from programs.errors import (
    CaptureExceedsHold,
    HoldExpired,
    HoldNotHeld,
    IdempotencyConflict,
    InsufficientPoints,
    PointsPaymentUnavailable,
)
from programs.models import (
    EntryKind,
    HoldStatus,
    LedgerEntry,
    PointLot,
    PointsHold,
    ReturnPolicy,
)
from programs.services import holds as hold_services
from programs.services.due import points_expire_due
from programs.services.hold_quotes import hold_quote
from programs.services.holds import hold_capture, hold_place, hold_void, holds_expire_due
from programs.services.memberships import membership_enroll
from programs.services.purchase_refunds import purchase_refund
from tests.factories import CustomerFactory
from tests.programs.bookkeeping import assert_books_balance, program_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(program):
    membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
    return membership


@pytest.fixture
def place(partner):
    counter = {"n": 0}

    def _place(membership, amount, **kwargs):
        counter["n"] += 1
        kwargs.setdefault("idempotency_key", f"hold-{counter['n']}")
        hold, _ = hold_place(
            membership=membership, partner=partner, amount=Decimal(amount), **kwargs
        )
        return hold

    return _place


def later(minutes: int):
    moment = timezone.now() + timedelta(minutes=minutes)
    return mock.patch.object(timezone, "now", return_value=moment)


def test_quote_rounds_points_up_and_caps_at_the_balance(member, buy, program):
    buy(member, "300.00")  # 300 points
    member.refresh_from_db()
    quote = hold_quote(membership=member, amount=Decimal("2.50"))
    assert (quote.points_needed, quote.points_payable, quote.amount_payable) == (
        250,
        250,
        Decimal("2.50"),
    )
    assert quote.covers
    quote = hold_quote(membership=member, amount=Decimal("5.00"))  # 500 needed, 300 there
    assert (quote.points_needed, quote.points_payable) == (500, 300)
    assert quote.amount_payable == Decimal("3.00")
    assert not quote.covers
    program_set(program, point_value=Decimal("0.03"))
    member.refresh_from_db()
    quote = hold_quote(membership=member, amount=Decimal("0.10"))  # 0.10 / 0.03 = 3.33 -> 4
    assert quote.points_needed == 4
    quote = hold_quote(membership=member, amount=Decimal("20.00"))  # 300 x 0.03 = 9.00
    assert (quote.points_payable, quote.amount_payable) == (300, Decimal("9.00"))


def test_a_program_without_a_point_value_takes_no_points(member, buy, program):
    buy(member, "300.00")
    program_set(program, point_value=Decimal(0))
    member.refresh_from_db()
    with pytest.raises(PointsPaymentUnavailable):
        hold_quote(membership=member, amount=Decimal("1.00"))


def test_a_hold_moves_points_from_available_to_held(member, buy, place):
    buy(member, "300.00")
    hold = place(member, "2.50", order_reference="T-1")
    member.refresh_from_db()
    assert (member.balance, member.held) == (50, 250)  # 300 - 250 available, 250 held
    assert (hold.points, hold.status, hold.amount) == (250, HoldStatus.HELD, Decimal("2.50"))
    entry = LedgerEntry.objects.get(hold=hold)
    assert (entry.kind, entry.points, entry.held_points) == (EntryKind.HOLD, -250, 250)
    assert_books_balance(member)


def test_never_more_held_than_available(member, buy, place):
    buy(member, "300.00")
    place(member, "2.00")  # 200 held, 100 left
    with pytest.raises(InsufficientPoints) as refused:
        place(member, "1.01")  # 101 points
    assert refused.value.details == {"needed": 101, "available": 100}
    member.refresh_from_db()
    assert (member.balance, member.held) == (100, 200)


def test_a_partial_capture_spends_part_and_releases_the_rest(member, buy, place):
    buy(member, "300.00")
    hold = place(member, "2.50")
    hold = hold_capture(hold=hold, amount=Decimal("1.00"))  # 100 of the 250 points
    member.refresh_from_db()
    assert (member.balance, member.held) == (200, 0)  # 50 + 150 released
    assert (hold.status, hold.points_captured, hold.captured_amount) == (
        HoldStatus.CAPTURED,
        100,
        Decimal("1.00"),
    )
    moves = list(
        LedgerEntry.objects.filter(hold=hold)
        .order_by("pk")
        .values_list("kind", "points", "held_points")
    )
    assert moves == [
        (EntryKind.HOLD, -250, 250),
        (EntryKind.CAPTURE, 0, -100),
        (EntryKind.HOLD_RELEASE, 150, -150),
    ]
    assert_books_balance(member)


def test_capture_again_answers_the_same_and_another_capture_is_refused(member, buy, place):
    buy(member, "300.00")
    hold = place(member, "2.50")
    hold_capture(hold=hold, points=120)
    again = hold_capture(hold=hold, points=120)
    assert again.points_captured == 120
    assert LedgerEntry.objects.filter(hold=hold, kind=EntryKind.CAPTURE).count() == 1
    with pytest.raises(HoldNotHeld):
        hold_capture(hold=hold, points=100)
    member.refresh_from_db()
    assert member.balance == 180  # 300 - 120


def test_capture_more_than_held_is_refused(member, buy, place):
    buy(member, "300.00")
    hold = place(member, "2.50")
    with pytest.raises(CaptureExceedsHold):
        hold_capture(hold=hold, amount=Decimal("2.51"))
    with pytest.raises(CaptureExceedsHold):
        hold_capture(hold=hold, points=251)
    hold.refresh_from_db()
    assert hold.status == HoldStatus.HELD


def test_capture_after_expiry_is_refused_even_before_the_job_ran(member, buy, place):
    buy(member, "300.00")
    hold = place(member, "2.50", expires_in=timedelta(minutes=15))
    with later(16), pytest.raises(HoldExpired):
        hold_capture(hold=hold)
    member.refresh_from_db()
    assert (member.balance, member.held) == (50, 250)  # still held until the job runs


def test_void_gives_every_point_back_once(member, buy, place):
    buy(member, "300.00")
    hold = place(member, "2.50")
    hold_void(hold=hold)
    hold_void(hold=hold)  # a retry changes nothing
    member.refresh_from_db()
    assert (member.balance, member.held) == (300, 0)
    assert LedgerEntry.objects.filter(hold=hold, kind=EntryKind.HOLD_RELEASE).count() == 1
    with pytest.raises(HoldNotHeld):
        hold_capture(hold=hold)
    assert_books_balance(member)


def test_a_captured_hold_cannot_be_voided(member, buy, place):
    buy(member, "300.00")
    hold = hold_capture(hold=place(member, "2.50"))
    with pytest.raises(HoldNotHeld):
        hold_void(hold=hold)
    member.refresh_from_db()
    assert member.balance == 50


def test_the_job_releases_expired_holds_and_a_failing_one_stops_no_other(
    member, buy, place, program, monkeypatch
):
    other, _ = membership_enroll(customer=CustomerFactory(), program=program)
    buy(member, "300.00")
    buy(other, "100.00")
    first = place(member, "1.00")
    broken = place(other, "1.00")
    running = place(member, "1.00", expires_in=timedelta(hours=1))
    release = hold_services._release

    def failing_for_one(membership, hold, *args):
        if hold.pk == broken.pk:
            raise RuntimeError("disk on fire")
        return release(membership, hold, *args)

    monkeypatch.setattr(hold_services, "_release", failing_for_one)
    assert holds_expire_due(now=timezone.now() + timedelta(minutes=20)) == 1
    statuses = dict(PointsHold.objects.values_list("pk", "status"))
    assert statuses == {
        first.pk: HoldStatus.EXPIRED,
        broken.pk: HoldStatus.HELD,  # left for the next run
        running.pk: HoldStatus.HELD,
    }
    member.refresh_from_db()
    assert (member.balance, member.held) == (200, 100)  # 300 - the running hold's 100
    monkeypatch.setattr(hold_services, "_release", release)
    assert holds_expire_due(now=timezone.now() + timedelta(minutes=20)) == 1
    other.refresh_from_db()
    assert (other.balance, other.held) == (100, 0)
    assert_books_balance(member)
    assert_books_balance(other)


def test_the_same_key_places_one_hold_and_another_body_is_a_conflict(member, buy, place):
    buy(member, "300.00")
    first = place(member, "2.50", idempotency_key="till-7-0001")
    again = place(member, "2.50", idempotency_key="till-7-0001")
    assert again.pk == first.pk
    with pytest.raises(IdempotencyConflict):
        place(member, "2.00", idempotency_key="till-7-0001")
    member.refresh_from_db()
    assert (member.balance, member.held) == (50, 250)


def test_held_and_captured_points_come_from_the_lots_in_order(member, buy, place):
    # 100 points earned 60 days ago expire first (soonest expiring), then 200 earned today
    old = buy(member, "100.00", occurred_at=timezone.now() - timedelta(days=60))
    new = buy(member, "200.00")
    hold = place(member, "1.50")  # 150: all 100 of the old lot, 50 of the new
    lots = {
        lot.earn_entry.purchase_id: lot for lot in PointLot.objects.select_related("earn_entry")
    }
    assert (lots[old.pk].remaining, lots[new.pk].remaining) == (0, 150)
    hold_capture(hold=hold, points=120)  # spends the old lot's 100 and 20 of the new
    lots[new.pk].refresh_from_db()
    assert lots[new.pk].remaining == 180  # the 30 not captured went back
    assert_books_balance(member)


def test_held_points_outlive_their_lot_and_expire_when_released(member, buy, place, program):
    program_set(program, expiry_months=1)
    buy(member, "100.00", occurred_at=timezone.now() - timedelta(days=29))  # expires in ~2 days
    buy(member, "200.00")
    hold = place(member, "1.00", expires_in=timedelta(days=5))  # the old lot's 100
    in_three_days = timezone.now() + timedelta(days=3)
    with mock.patch.object(timezone, "now", return_value=in_three_days):
        assert points_expire_due(now=in_three_days) == 0  # nothing left in the lapsed lot
        member.refresh_from_db()
        assert (member.balance, member.held) == (200, 100)
        hold_void(hold=hold)  # the 100 go back to a lot that has lapsed: they expire
    member.refresh_from_db()
    assert (member.balance, member.held) == (200, 0)
    assert LedgerEntry.objects.filter(membership=member, kind=EntryKind.EXPIRE).get().points == -100
    assert_books_balance(member)


def test_a_refund_of_the_order_gives_the_points_back_pro_rata(member, buy, place, system):
    buy(member, "300.00")  # 300 points
    hold = hold_capture(hold=place(member, "2.00", order_reference="T-1"))  # pays with 200
    order = buy(member, "10.00", order_id="T-1")  # the rest in cash earns 10 points
    member.refresh_from_db()
    assert member.balance == 110  # 300 - 200 + 10
    purchase_refund(purchase=order, refund_id="r-1", amount=Decimal("3.33"), actor=system)
    member.refresh_from_db()
    # 200 x 3.33 / 10 = 66.6 -> 66 back; the order's own 10 points: 3.33 / 10 -> 3 taken
    assert member.balance == 110 + 66 - 3
    purchase_refund(purchase=order, refund_id="r-2", amount=Decimal("6.67"), actor=system)
    member.refresh_from_db()
    assert member.balance == 300  # all 200 back, all 10 earned taken: where it started
    hold.refresh_from_db()
    assert hold.points_refunded == 200
    kinds = LedgerEntry.objects.filter(hold=hold, kind=EntryKind.CAPTURE_REFUND)
    assert sorted(kinds.values_list("points", flat=True)) == [66, 134]
    assert_books_balance(member)


def test_a_refund_of_another_order_gives_nothing_back(member, buy, place, system):
    buy(member, "300.00")
    hold_capture(hold=place(member, "2.00", order_reference="T-1"))
    other = buy(member, "10.00", order_id="T-2")
    purchase_refund(purchase=other, refund_id="r-1", amount=Decimal("10.00"), actor=system)
    member.refresh_from_db()
    assert member.balance == 100  # 300 - 200 + 10 - 10


def test_a_released_hold_does_not_revive_points_of_a_returned_purchase(
    member, buy, place, program, system
):
    program_set(program, return_policy=ReturnPolicy.WITHIN_AVAILABLE)
    order = buy(member, "100.00")
    hold = place(member, "1.00")  # all 100 points held: the return cannot take them
    purchase_refund(purchase=order, refund_id="r-1", amount=Decimal("100.00"), actor=system)
    member.refresh_from_db()
    assert (member.balance, member.held) == (0, 100)
    hold_void(hold=hold)  # they come back to the returned purchase's lot: taken back
    member.refresh_from_db()
    assert (member.balance, member.held) == (0, 0)
    assert_books_balance(member)
