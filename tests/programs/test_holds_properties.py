"""A hypothesis state machine drives random sequences of earning, holds, captures (all or
part), voids, time passing (the hold expiry, release and point expiry jobs) and refunds of
orders paid with points, on a program whose policies are drawn at the start, and checks
after every step:

* the books balance: the cached balances equal the ledger sums (``ledger_drift``, held
  points included) and the lots agree with them (``lot_problems``);
* sum(entry.points + entry.held_points) == balance + held - debt, and none is negative;
* ``held`` is exactly the points of the holds still held;
* no hold captured more than it held or got back more than it captured, and the points an
  order's refunds gave back are its refunded share of the captured points (all of them
  once fully refunded);
* rule post-conditions: a hold never takes more than was available, a capture after the
  hold's expiry is refused, replays change nothing.

Domain errors (``LoyaltyError``) are acceptable outcomes where the rule says so. Time is a
clock the machine owns (``timezone.now`` patched), as in ``test_ledger_properties``.
"""

from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from unittest import mock

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from programs.errors import (
    CaptureExceedsHold,
    HoldExpired,
    HoldNotHeld,
    InsufficientPoints,
    LoyaltyError,
    NegativeBalance,
)
from programs.models import (
    ExpiryPolicy,
    HoldStatus,
    LedgerEntry,
    Membership,
    PointsHold,
    Purchase,
    RedemptionOrder,
    ReturnPolicy,
)
from programs.services.due import ledger_drift, points_expire_due
from programs.services.holds import hold_capture, hold_place, hold_void, holds_expire_due
from programs.services.ledger import Actor
from programs.services.memberships import membership_enroll
from programs.services.purchase_refunds import purchase_refund
from programs.services.purchases import purchase_record
from tests.factories import CustomerFactory, PartnerFactory, ProgramFactory
from tests.programs.test_ledger_properties import lot_problems

START = datetime(2030, 3, 10, 11, 0, tzinfo=UTC)
CENTS = st.integers(1, 40000)


class HoldMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.now = START
        self._stack = ExitStack()
        self._stack.enter_context(mock.patch.object(timezone, "now", self.clock))
        self._stack.enter_context(transaction.atomic())
        self.program = None
        self.counter = 0
        self.actor = Actor.system()

    def clock(self) -> datetime:
        return self.now

    def teardown(self):
        transaction.set_rollback(True)
        self._stack.close()

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    def membership(self) -> Membership:
        return Membership.objects.get(pk=self.member_pk)

    def entry_count(self) -> int:
        return LedgerEntry.objects.count()

    def holds(self, *statuses) -> list[PointsHold]:
        holds = PointsHold.objects.order_by("pk")
        return list(holds.filter(status__in=statuses) if statuses else holds)

    @initialize(
        return_policy=st.sampled_from(ReturnPolicy.values),
        redemption_order=st.sampled_from(RedemptionOrder.values),
        expiry=st.sampled_from([(ExpiryPolicy.FIXED_PERIOD, 1), (ExpiryPolicy.NEVER, 24)]),
        point_value=st.sampled_from([Decimal("0.01"), Decimal("0.03"), Decimal("0.5")]),
        opening=st.lists(CENTS, min_size=1, max_size=3),
    )
    def set_up(self, return_policy, redemption_order, expiry, point_value, opening):
        self.program = ProgramFactory(
            return_policy=return_policy,
            redemption_order=redemption_order,
            expiry_policy=expiry[0],
            expiry_months=expiry[1],
            point_value=point_value,
            referral_enabled=False,
        )
        self.partner = PartnerFactory(programs=[self.program])
        membership, _ = membership_enroll(
            customer=CustomerFactory(), program=self.program, joined_at=self.now
        )
        self.member_pk = membership.pk
        for cents in opening:
            self.earn(cents, age_days=20)

    # --- rules ----------------------------------------------------------------------------

    @rule(cents=CENTS, age_days=st.sampled_from([0, 20]))
    def earn(self, cents, age_days):
        purchase_record(
            partner=self.partner,
            membership=self.membership(),
            order_id=self.next_id("order"),
            amount=Decimal(cents) / 100,
            currency="EUR",
            occurred_at=self.now - timedelta(days=age_days, minutes=1),
            award_now=True,
        )

    @precondition(lambda self: self.program is not None)
    @rule(data=st.data(), minutes=st.sampled_from([5, 15, 60]))
    def hold(self, data, minutes):
        """An amount up to a fifth more than the available points are worth."""
        before = self.membership()
        entries = self.entry_count()
        key = self.next_id("key")
        worth = int(before.balance * self.program.point_value * 100)
        amount = Decimal(data.draw(st.integers(1, max(1, worth * 6 // 5)))) / 100
        try:
            hold, created = hold_place(
                membership=before,
                partner=self.partner,
                amount=amount,
                idempotency_key=key,
                order_reference=self.next_id("till"),
                expires_in=timedelta(minutes=minutes),
            )
        except (InsufficientPoints, NegativeBalance):
            assert self.entry_count() == entries  # nothing of the refused hold stays
            return
        assert created
        after = self.membership()
        assert after.held == before.held + hold.points
        assert hold.points <= before.balance  # never more than was available
        # the same request again is a replay: the same hold, nothing posted
        entries = self.entry_count()
        again, created = hold_place(
            membership=after,
            partner=self.partner,
            amount=amount,
            idempotency_key=key,
            order_reference=hold.order_reference,
            expires_in=timedelta(minutes=minutes),
        )
        assert (again.pk, created, self.entry_count()) == (hold.pk, False, entries)

    @rule(data=st.data())
    def capture(self, data):
        held = self.holds(HoldStatus.HELD)
        holds = held if held and data.draw(st.booleans()) else self.holds()
        if not holds:
            return
        hold = data.draw(st.sampled_from(holds))
        points = data.draw(st.one_of(st.none(), st.integers(1, hold.points + 5)))
        before = self.membership()
        try:
            captured = hold_capture(hold=hold, points=points)
        except HoldExpired:
            assert hold.status == HoldStatus.EXPIRED or hold.expires_at <= self.now
            return
        except (HoldNotHeld, CaptureExceedsHold):
            assert hold.status != HoldStatus.HELD or (points or 0) > hold.points
            return
        if hold.status == HoldStatus.CAPTURED:  # a replay
            assert captured.points_captured == hold.points_captured
            return
        after = self.membership()
        assert after.held == before.held - hold.points
        assert captured.points_captured == (points or hold.points)
        cash = data.draw(st.integers(0, 20000))
        if cash:  # the rest of the order in cash: a purchase with the hold's order id
            purchase_record(
                partner=self.partner,
                membership=after,
                order_id=hold.order_reference,
                amount=Decimal(cash) / 100,
                currency="EUR",
                occurred_at=self.now - timedelta(minutes=1),
                award_now=True,
            )

    @rule(data=st.data())
    def void(self, data):
        holds = self.holds()
        if not holds:
            return
        hold = data.draw(st.sampled_from(holds))
        try:
            voided = hold_void(hold=hold)
        except HoldNotHeld:
            assert hold.status == HoldStatus.CAPTURED
            return
        assert voided.status in (HoldStatus.VOIDED, HoldStatus.EXPIRED)

    @rule(minutes=st.sampled_from([1, 10, 30, 60 * 24 * 20]))
    def pass_time(self, minutes):
        self.now += timedelta(minutes=minutes)
        holds_expire_due(now=self.now)
        points_expire_due(now=self.now)
        assert not PointsHold.objects.filter(status=HoldStatus.HELD, expires_at__lte=self.now)

    @rule(data=st.data())
    def refund(self, data):
        purchases = list(Purchase.objects.order_by("pk"))
        orders = [p for p in purchases if p.order_id.startswith("till-")]  # paid with points
        if orders and data.draw(st.booleans()):
            purchases = orders
        if not purchases:
            return
        purchase = data.draw(st.sampled_from(purchases))
        rest = purchase.amount - purchase.refunded_amount
        if rest <= 0:
            return
        cents = data.draw(st.one_of(st.just(int(rest * 100)), st.integers(1, int(rest * 100))))
        try:
            purchase_refund(
                purchase=purchase,
                refund_id=self.next_id("refund"),
                amount=Decimal(cents) / 100,
                actor=self.actor,
            )
        except LoyaltyError as error:
            raise AssertionError(f"a refund within the purchase was refused: {error!r}") from None

    # --- invariants -----------------------------------------------------------------------

    @precondition(lambda self: self.program is not None)
    @invariant()
    def books_balance(self):
        membership = self.membership()
        assert ledger_drift([membership.pk]) == []
        assert lot_problems(membership) == []
        owned = LedgerEntry.objects.filter(membership=membership).aggregate(
            points=Sum("points"), held=Sum("held_points")
        )
        total = (owned["points"] or 0) + (owned["held"] or 0)
        assert total == membership.balance + membership.held - membership.debt
        assert min(membership.balance, membership.held, membership.debt) >= 0

    @precondition(lambda self: self.program is not None)
    @invariant()
    def held_is_what_the_holds_reserve(self):
        reserved = sum(hold.points for hold in self.holds(HoldStatus.HELD))
        assert self.membership().held == reserved

    @precondition(lambda self: self.program is not None)
    @invariant()
    def refunds_give_back_the_refunded_share(self):
        for hold in self.holds(HoldStatus.CAPTURED):
            assert 0 <= hold.points_refunded <= hold.points_captured <= hold.points
            order = Purchase.objects.filter(
                partner=hold.partner_id, order_id=hold.order_reference
            ).first()
            if order is None:
                assert hold.points_refunded == 0
                continue
            if order.refunded_amount == order.amount:
                expected = hold.points_captured
            else:
                share = hold.points_captured * order.refunded_amount / order.amount
                expected = int(share.to_integral_value(rounding=ROUND_DOWN))
            assert hold.points_refunded == expected
            given = LedgerEntry.objects.filter(hold=hold, kind="capture_refund").aggregate(
                total=Sum("points")
            )["total"]
            assert (given or 0) == hold.points_refunded


@pytest.mark.django_db
def test_hold_invariants_hold_for_random_sequences():
    run_state_machine_as_test(
        HoldMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
