"""A hypothesis state machine drives random sequences of earn, redeem, cancel, use,
refund, action, time passing (release and expiry jobs) and tier review through the
services, on a program whose policies are drawn at the start, and checks after every step:

* cached balances equal the ledger (``ledger_drift``), and every entry's running
  ``balance_after`` / ``pending_after`` equals the sum of the entries up to it;
* every lot has 0 <= remaining <= points, expired lots hold nothing, released unexpired
  lots hold exactly the balance and unreleased lots exactly the pending points;
* a reward's stock is never negative and stock + live redemptions == initial stock;
* the qualified tier equals the tier an independent model of the tier rules gives:
  raised at once when the qualifying figures cross a threshold, taken back by a return
  only within the window it was reached in, and at review set to what the program's
  downgrade mode yields from the figures of the period that closed at the review date;
* rule-specific post-conditions (a redemption takes exactly its cost, a refund never
  reverses more than the purchase earned and follows the return policy, due lots are
  released and expired by the jobs, replays change nothing).

Domain errors (``LoyaltyError``) are acceptable outcomes; any other exception fails.
Time is a clock the machine owns: ``django.utils.timezone.now`` is patched to it, so the
services, ``auto_now`` fields and the jobs' ``now=`` all see one consistent timeline.
Each example runs inside a savepoint that is rolled back, so it starts from a clean slate.
"""

from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from unittest import mock

import pytest
from dateutil.relativedelta import relativedelta
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
    IdempotencyConflict,
    LoyaltyError,
    RedemptionNotCancellable,
    RefundExceedsPurchase,
)
from programs.models import (
    ActionRule,
    DowngradeMode,
    EarnRule,
    EntryKind,
    ExpiryPolicy,
    LedgerEntry,
    LimitPeriod,
    LotAllocation,
    Membership,
    PointLot,
    Purchase,
    Redemption,
    RedemptionOrder,
    RedemptionStatus,
    Refund,
    ReturnPolicy,
    Reward,
    Rounding,
    RuleCombination,
    TierMetric,
    TierWindow,
)
from programs.services.actions import action_record
from programs.services.due import (
    ledger_drift,
    points_expire_due,
    points_release_due,
    tiers_review_due,
)
from programs.services.ledger import Actor
from programs.services.memberships import membership_enroll
from programs.services.purchase_refunds import RefundLine, purchase_refund
from programs.services.purchases import LineData, purchase_record
from programs.services.rewards import redemption_cancel, redemption_mark_used, reward_redeem
from tests.factories import CustomerFactory, PartnerFactory, ProgramFactory, standard_tiers

START = datetime(2030, 3, 10, 11, 0, tzinfo=UTC)
THRESHOLDS = [Decimal(0), Decimal(500), Decimal(1500), Decimal(5000)]  # standard_tiers
CATEGORIES = ["food", "bio", "giftcard"]  # bio earns double, gift cards earn nothing
LINES = st.lists(  # (category, quantity, unit price in cents)
    st.tuples(st.sampled_from(CATEGORIES), st.integers(1, 3), st.integers(100, 40000)),
    min_size=1,
    max_size=3,
)
REWARDS = [  # (points cost, stock, needs Silber)
    (50, None, False),
    (150, 2, False),
    (300, 1, True),
]


def lot_problems(membership: Membership) -> list[str]:
    """Every way the lots and entries of one membership disagree with its caches."""
    problems = []
    lots = list(PointLot.objects.filter(membership=membership).order_by("pk"))
    for lot in lots:
        if not 0 <= lot.remaining <= lot.points:
            problems.append(f"lot {lot.pk}: remaining {lot.remaining} of {lot.points}")
        if lot.expired_at is not None and lot.remaining != 0:
            problems.append(f"lot {lot.pk}: expired but {lot.remaining} left")
        if lot.released_at is None and lot.expired_at is not None:
            problems.append(f"lot {lot.pk}: expired while pending")
    released = sum(lot.remaining for lot in lots if lot.released_at and not lot.expired_at)
    unreleased = sum(lot.remaining for lot in lots if lot.released_at is None)
    if released != membership.balance:
        problems.append(f"released lots hold {released}, balance is {membership.balance}")
    if unreleased != membership.pending:
        problems.append(f"pending lots hold {unreleased}, pending is {membership.pending}")
    if membership.balance and membership.debt:
        problems.append(f"balance {membership.balance} and debt {membership.debt} both open")
    available = pending = 0
    for pk, points, pending_points, balance_after, pending_after in (
        LedgerEntry.objects.filter(membership=membership)
        .order_by("pk")
        .values_list("pk", "points", "pending_points", "balance_after", "pending_after")
    ):
        available += points
        pending += pending_points
        if (balance_after, pending_after) != (available, pending):
            problems.append(
                f"entry {pk}: after ({balance_after}, {pending_after}), "
                f"ledger sums ({available}, {pending})"
            )
    return problems


@dataclass
class PurchaseModel:
    member: int
    amount: Decimal
    occurred_at: datetime
    lines: list[tuple[int, int, Decimal]]  # (line_no, quantity, unit price)
    refunded: Decimal = Decimal(0)
    refund_ids: list[str] = field(default_factory=list)


@dataclass
class TierModel:
    rank: int
    since: datetime
    review_at: datetime


def supported_rank(value: Decimal) -> int:
    return max((rank for rank, t in enumerate(THRESHOLDS) if t <= value), default=-1)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.now = START
        self._stack = ExitStack()
        self._stack.enter_context(mock.patch.object(timezone, "now", self.clock))
        self._stack.enter_context(transaction.atomic())
        self.program = None
        self.purchases: dict[int, PurchaseModel] = {}
        self.tier_model: list[TierModel] = []
        self.counter = 0
        self.redeemed = 0
        self.actor = Actor.system()

    def clock(self) -> datetime:
        return self.now

    def teardown(self):
        transaction.set_rollback(True)
        self._stack.close()

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    # --- set-up ---------------------------------------------------------------------------

    @initialize(
        return_policy=st.sampled_from(ReturnPolicy.values),
        redemption_order=st.sampled_from(RedemptionOrder.values),
        pending_days=st.sampled_from([0, 14]),
        expiry=st.sampled_from(
            [
                (ExpiryPolicy.FIXED_PERIOD, 1),
                (ExpiryPolicy.FIXED_PERIOD, 6),
                (ExpiryPolicy.END_OF_FOLLOWING_YEAR, 24),
                (ExpiryPolicy.INACTIVITY, 3),
                (ExpiryPolicy.NEVER, 24),
            ]
        ),
        tier_metric=st.sampled_from(TierMetric.values),
        tier_window=st.sampled_from(TierWindow.values),
        downgrade_mode=st.sampled_from(DowngradeMode.values),
        grace_days=st.sampled_from([0, 30]),
        rounding=st.sampled_from(Rounding.values),
        combination=st.sampled_from(RuleCombination.values),
        min_purchase=st.sampled_from([Decimal(0), Decimal("10.00")]),
        opening=st.tuples(LINES, LINES),
    )
    def set_up(self, opening, **config):
        expiry_policy, expiry_months = config.pop("expiry")
        self.program = ProgramFactory(
            return_policy=config["return_policy"],
            redemption_order=config["redemption_order"],
            pending_days=config["pending_days"],
            expiry_policy=expiry_policy,
            expiry_months=expiry_months,
            tier_metric=config["tier_metric"],
            tier_window=config["tier_window"],
            downgrade_mode=config["downgrade_mode"],
            downgrade_grace_days=config["grace_days"],
            rounding=config["rounding"],
            rule_combination=config["combination"],
            min_purchase_amount=config["min_purchase"],
            referral_enabled=False,
        )
        self.tiers = standard_tiers(self.program)
        EarnRule.objects.create(program=self.program, name="Bio", category="bio", multiplier=2)
        EarnRule.objects.create(
            program=self.program, name="Gift cards", category="giftcard", excluded=True
        )
        ActionRule.objects.create(
            program=self.program,
            code="review",
            name="Review written",
            points=40,
            limit_count=3,
            limit_period=LimitPeriod.MONTH,
        )
        self.rewards = [
            Reward.objects.create(
                program=self.program,
                name=f"Reward {cost}",
                points_cost=cost,
                stock=stock,
                min_tier=self.tiers["Silber"] if needs_silber else None,
            )
            for cost, stock, needs_silber in REWARDS
        ]
        self.partner = PartnerFactory(programs=[self.program])
        self.member_pks = []
        for _ in range(2):
            membership, _ = membership_enroll(
                customer=CustomerFactory(), program=self.program, joined_at=self.now
            )
            self.member_pks.append(membership.pk)
            self.tier_model.append(
                TierModel(rank=0, since=self.now, review_at=self.next_review(self.now))
            )
        for member, lines in enumerate(opening):  # something to spend and return from the start
            self.earn(member, lines, age_days=30)

    # --- the tier rules, written down independently of programs.services.tiers -------------

    def window_start(self, now: datetime) -> datetime:
        if self.program.tier_window == TierWindow.CALENDAR_YEAR:
            local = timezone.localtime(now)
            return local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        return now - relativedelta(months=12)

    def next_review(self, now: datetime) -> datetime:
        if self.program.tier_window == TierWindow.CALENDAR_YEAR:
            local = timezone.localtime(now)
            return local.replace(
                year=local.year + 1, month=12, day=31, hour=23, minute=59, second=59, microsecond=0
            )
        return now + relativedelta(months=12)

    def figures(self, member: int, now: datetime) -> Decimal:
        start = self.window_start(now)
        if self.program.tier_metric == TierMetric.POINTS:
            # Dated by when the points were earned (the purchase's own date for a late
            # report), a return by the date of the points it takes back; net of returns,
            # never below zero.
            rows = LedgerEntry.objects.filter(
                membership_id=self.member_pks[member],
                kind__in=[EntryKind.EARN, EntryKind.REVERSE],
            ).values_list("kind", "points", "pending_points", "lot__earned_at", "purchase_id")
            total = 0
            for kind, p, q, earned_at, purchase_id in rows:
                if kind == EntryKind.REVERSE:
                    earned_at = self.purchases[purchase_id].occurred_at
                if start <= earned_at <= now:
                    total += p + q
            return max(Decimal(total), Decimal(0))
        return sum(
            (
                p.amount - p.refunded
                for p in self.purchases.values()
                if p.member == member and start <= p.occurred_at <= now
            ),
            Decimal(0),
        )

    def model_upgrade(self, member: int) -> None:
        tier = self.tier_model[member]
        target = supported_rank(self.figures(member, self.now))
        if target > tier.rank:
            self.tier_model[member] = TierModel(target, self.now, self.next_review(self.now))

    def model_after_return(self, member: int) -> None:
        tier = self.tier_model[member]
        if tier.since < self.window_start(self.now):
            return
        tier.rank = min(tier.rank, supported_rank(self.figures(member, self.now)))

    def model_review(self, member: int) -> None:
        tier = self.tier_model[member]
        if tier.review_at > self.now - timedelta(days=self.program.downgrade_grace_days):
            return
        # The period that closed at review_at is judged, and the next one runs from its end.
        period_end = min(tier.review_at, self.now)
        target = supported_rank(self.figures(member, period_end))
        tier.review_at = self.next_review(period_end)
        if target >= tier.rank:
            tier.rank = target
        else:
            if self.program.downgrade_mode == DowngradeMode.ONE_STEP:
                tier.rank = max(tier.rank - 1, target)
            else:
                tier.rank = target
            tier.since = self.now

    # --- helpers --------------------------------------------------------------------------

    def membership(self, member: int) -> Membership:
        return Membership.objects.select_related("program", "tier").get(pk=self.member_pks[member])

    def entry_count(self) -> int:
        return LedgerEntry.objects.filter(membership__program=self.program).count()

    def live_redemptions(self, reward: Reward) -> int:
        return reward.redemptions.exclude(status=RedemptionStatus.CANCELLED).count()

    # --- rules ----------------------------------------------------------------------------

    @rule(member=st.integers(0, 1), lines=LINES, age_days=st.sampled_from([0, 3, 30, 200]))
    def earn(self, member, lines, age_days):
        """A purchase, reported ``age_days`` after it happened (late reports are real)."""
        line_data = [
            LineData(sku="", category=cat, quantity=qty, unit_price=Decimal(cents) / 100)
            for cat, qty, cents in lines
        ]
        amount = sum((li.amount for li in line_data), Decimal(0))
        before = self.membership(member)
        occurred_at = self.now - timedelta(days=age_days, minutes=1)
        purchase, created = purchase_record(
            partner=self.partner,
            membership=before,
            order_id=self.next_id("order"),
            amount=amount,
            currency="EUR",
            occurred_at=occurred_at,
            lines=line_data,
            award_now=True,
        )
        assert created
        assert purchase.status == "awarded"
        after = self.membership(member)
        gained = (after.balance - after.debt + after.pending) - (
            before.balance - before.debt + before.pending
        )
        assert gained == purchase.points_awarded
        if all(cat == "giftcard" for cat, _, _ in lines):
            assert purchase.points_awarded == 0
        self.purchases[purchase.pk] = PurchaseModel(
            member=member,
            amount=amount,
            occurred_at=occurred_at,
            lines=[(n, li.quantity, li.unit_price) for n, li in enumerate(line_data, start=1)],
        )
        self.model_upgrade(member)

    @rule(member=st.integers(0, 1), which=st.integers(0, len(REWARDS) - 1))
    def redeem(self, member, which):
        reward = Reward.objects.get(pk=self.rewards[which].pk)
        before = self.membership(member)
        entries = self.entry_count()
        # A redemption first lapses lots past their date that the nightly job has not
        # reached yet: lapsed points are never spent.
        overdue = (
            PointLot.objects.filter(
                membership=before,
                released_at__isnull=False,
                expired_at__isnull=True,
                expires_at__lte=timezone.now(),
            ).aggregate(total=Sum("remaining"))["total"]
            or 0
        )
        try:
            redemption = reward_redeem(membership=before, reward=reward, actor=self.actor)
        except LoyaltyError:
            assert self.entry_count() == entries
            assert Reward.objects.get(pk=reward.pk).stock == reward.stock
            return
        after = self.membership(member)
        assert before.debt == 0
        assert before.balance - overdue >= reward.points_cost
        assert after.balance == before.balance - overdue - reward.points_cost
        assert after.pending == before.pending
        assert redemption.points == reward.points_cost
        self.redeemed += 1

    @precondition(lambda self: self.redeemed)
    @rule(data=st.data())
    def cancel(self, data):
        redemptions = list(Redemption.objects.filter(reward__program=self.program).order_by("pk"))
        if not redemptions:
            return
        redemption = data.draw(st.sampled_from(redemptions))
        before = Membership.objects.get(pk=redemption.membership_id)
        if redemption.status != RedemptionStatus.ISSUED:
            with pytest.raises(RedemptionNotCancellable):
                redemption_cancel(redemption=redemption, actor=self.actor)
            return
        redemption_cancel(redemption=redemption, actor=self.actor)  # must not be refused
        after = Membership.objects.get(pk=redemption.membership_id)
        restored = LedgerEntry.objects.get(redemption=redemption, kind=EntryKind.REDEEM_CANCEL)
        assert restored.points == redemption.points
        # Some of the returned points may settle a debt, lapse again at once or go with a
        # purchase returned meanwhile (then the tier is re-evaluated as after a return).
        assert after.balance - after.debt <= before.balance - before.debt + redemption.points
        if LedgerEntry.objects.filter(
            idempotency_key__startswith=f"redemption:{redemption.pk}:cancel:reverse"
        ).exists():
            self.model_after_return(self.member_pks.index(redemption.membership_id))

    @precondition(lambda self: self.redeemed)
    @rule(data=st.data())
    def use_voucher(self, data):
        issued = list(
            Redemption.objects.filter(
                reward__program=self.program, status=RedemptionStatus.ISSUED
            ).order_by("pk")
        )
        if issued:
            redemption_mark_used(redemption=data.draw(st.sampled_from(issued)))

    @precondition(lambda self: self.program is not None)
    @rule(data=st.data())
    def refund(self, data):
        if not self.purchases:
            return
        pk = data.draw(st.sampled_from(sorted(self.purchases)))
        model = self.purchases[pk]
        purchase = Purchase.objects.get(pk=pk)
        rest = model.amount - model.refunded
        mode = data.draw(st.sampled_from(["rest", "part", "line", "too_much", "replay"]))
        refund_id = self.next_id("refund")
        kwargs: dict = {}
        if mode == "replay" and model.refund_ids:
            refund_id = data.draw(st.sampled_from(model.refund_ids))
            first = Refund.objects.get(purchase=purchase, refund_id=refund_id)
            with pytest.raises(IdempotencyConflict):  # the same id for another request
                purchase_refund(
                    purchase=purchase,
                    refund_id=refund_id,
                    amount=first.amount + Decimal("0.01"),
                    actor=self.actor,
                )
            if first.lines:
                kwargs["lines"] = [RefundLine(li["line_no"], li["quantity"]) for li in first.lines]
            else:
                kwargs["amount"] = first.amount
        elif mode == "line":
            open_lines = [(n, q) for n, q, _ in model.lines]
            line_no, quantity = data.draw(st.sampled_from(open_lines))
            kwargs["lines"] = [RefundLine(line_no, data.draw(st.integers(1, quantity)))]
        elif mode == "part" and rest > Decimal("0.01"):
            cents = data.draw(st.integers(1, int(rest * 100) - 1))
            kwargs["amount"] = Decimal(cents) / 100
        elif mode == "rest" and rest > 0:
            kwargs["amount"] = rest
        else:
            mode = "too_much"
            kwargs["amount"] = rest + Decimal("0.01")
        entries = self.entry_count()
        refused = None
        try:
            refund, created = purchase_refund(
                purchase=purchase, refund_id=refund_id, actor=self.actor, **kwargs
            )
        except LoyaltyError as exc:
            refused = exc
        if mode == "too_much":
            assert isinstance(refused, RefundExceedsPurchase), "a refund beyond the purchase"
        if refused is not None:
            assert mode != "replay", f"a replayed refund was refused: {refused!r}"
            assert self.entry_count() == entries
            return
        purchase.refresh_from_db()
        if mode == "replay":
            assert not created
            assert self.entry_count() == entries
            assert purchase.refunded_amount == model.refunded
            return
        assert created
        model.refunded += refund.amount
        model.refund_ids.append(refund_id)
        assert purchase.refunded_amount == model.refunded <= model.amount
        if mode == "line":
            line_no, quantity = kwargs["lines"][0].line_no, kwargs["lines"][0].quantity
            assert refund.amount == model.lines[line_no - 1][2] * quantity
        self.check_reversal(purchase)
        self.model_after_return(model.member)

    def check_reversal(self, purchase: Purchase) -> None:
        awarded = purchase.points_awarded
        reversed_points = -sum(
            p + q
            for p, q in LedgerEntry.objects.filter(
                purchase=purchase, kind=EntryKind.REVERSE
            ).values_list("points", "pending_points")
        )
        assert 0 <= reversed_points <= purchase.points_reversed <= awarded
        if purchase.refunded_amount == purchase.amount:
            assert purchase.points_reversed == awarded
        policy = self.program.return_policy
        membership = Membership.objects.get(pk=purchase.membership_id)
        if policy == ReturnPolicy.ALLOW_NEGATIVE:
            # nothing is forgiven but points of the purchase that had expired already
            expired = LotAllocation.objects.filter(
                lot__earn_entry__purchase=purchase,
                lot__earn_entry__kind=EntryKind.EARN,
                entry__kind=EntryKind.EXPIRE,
            ).aggregate(total=Sum("points"))["total"]
            assert purchase.points_reversed - reversed_points <= (expired or 0)
        else:
            assert membership.debt == 0
        if policy == ReturnPolicy.PENDING_ONLY:  # only pending points are ever taken back
            reverses = LedgerEntry.objects.filter(purchase=purchase, kind=EntryKind.REVERSE)
            assert not reverses.exclude(points=0).exists()

    @rule(member=st.integers(0, 1), reference=st.integers(0, 4))
    def action(self, member, reference):
        entries = self.entry_count()
        try:
            _event, created = action_record(
                membership=self.membership(member),
                code="review",
                reference=f"review-{reference}",
                actor=self.actor,
            )
        except LoyaltyError:
            assert self.entry_count() == entries
            return
        if not created:
            assert self.entry_count() == entries
            return
        assert self.entry_count() == entries + 1
        self.model_upgrade(member)

    @rule(days=st.one_of(st.integers(1, 40), st.integers(41, 420)))
    def pass_time(self, days):
        """Advance the clock, then run the release and expiry jobs as the scheduler would."""
        self.now += timedelta(days=days)
        points_release_due(now=self.now)
        points_expire_due(now=self.now)
        lots = PointLot.objects.filter(membership__program=self.program)
        assert not lots.filter(released_at__isnull=True, available_at__lte=self.now).exists()
        live = lots.filter(released_at__isnull=False, expired_at__isnull=True, remaining__gt=0)
        assert not live.filter(expires_at__lte=self.now).exists()
        if self.program.expiry_policy == ExpiryPolicy.INACTIVITY:
            cutoff = self.now - relativedelta(months=self.program.expiry_months)
            for member in range(2):
                membership = self.membership(member)
                last = membership.last_activity_at or membership.joined_at
                if last < cutoff:
                    assert not live.filter(membership=membership).exists()

    @rule(days=st.sampled_from([0, 1, 180, 366]))
    def review_tiers(self, days):
        """Let ``days`` pass (no other job runs meanwhile), then close due periods."""
        self.now += timedelta(days=days)
        for member in range(2):
            self.model_review(member)
        tiers_review_due(now=self.now)

    # --- invariants -----------------------------------------------------------------------

    @precondition(lambda self: self.program is not None)
    @invariant()
    def books_balance(self):
        assert ledger_drift(self.member_pks) == []  # the machine's members, not the tables
        for member in range(2):
            membership = self.membership(member)
            assert lot_problems(membership) == [], f"member {member}"

    @precondition(lambda self: self.program is not None)
    @invariant()
    def stock_holds(self):
        for reward in Reward.objects.filter(program=self.program):
            initial = next(s for c, s, _ in REWARDS if c == reward.points_cost)
            if initial is None:
                assert reward.stock is None
                continue
            assert reward.stock >= 0
            assert reward.stock + self.live_redemptions(reward) == initial

    @precondition(lambda self: self.program is not None)
    @invariant()
    def tier_matches_the_rules(self):
        for member in range(2):
            membership = self.membership(member)
            expected = self.tier_model[member]
            assert membership.qualified_tier is not None, "below the base tier (threshold 0)"
            rank = membership.qualified_tier.rank
            assert rank == expected.rank, (
                f"member {member}: qualified tier rank {rank}, the rules give {expected.rank} "
                f"(figures {self.figures(member, self.now)})"
            )
            assert membership.tier_id == membership.qualified_tier_id  # no override, no VIP
            assert membership.tier_review_at == expected.review_at


@pytest.mark.django_db
def test_ledger_invariants_hold_for_random_sequences():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


@pytest.mark.django_db
def test_return_of_points_earned_in_an_earlier_window_keeps_the_base_tier():
    """Found by the machine above: with the points metric, a window that holds only the
    return of points earned in an earlier window summed to below zero, and the review
    left the member with no tier at all instead of the base tier."""
    clock = [START]
    with mock.patch.object(timezone, "now", side_effect=lambda: clock[0]):
        program = ProgramFactory(tier_metric=TierMetric.POINTS, pending_days=0)
        tiers = standard_tiers(program)
        partner = PartnerFactory(programs=[program])
        membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
        purchase, _ = purchase_record(
            partner=partner,
            membership=membership,
            order_id="early",
            amount=Decimal("100.00"),
            currency="EUR",
            occurred_at=START - timedelta(minutes=1),
            award_now=True,
        )
        clock[0] += timedelta(days=400)  # the earn lies in the period reviewed first
        purchase_refund(
            purchase=purchase, refund_id="late", amount=Decimal("100.00"), actor=Actor.system()
        )
        tiers_review_due(now=clock[0])
        clock[0] += timedelta(days=400)  # the next period holds only the return
        tiers_review_due(now=clock[0])

    membership.refresh_from_db()
    assert membership.qualified_tier == tiers["Bronze"]
    assert membership.tier == tiers["Bronze"]
