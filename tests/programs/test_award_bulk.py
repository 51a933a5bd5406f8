"""The award path gives exactly what awarding the purchases one by one with the ledger
operations gives.

``legacy_award`` is a reference implementation (lock the memberships, then
``reference_award_one`` per purchase: the earning calculator, ``points_earn``, the tier
upgrade and the referral's turn, step by step); randomised batches are awarded both ways
from the same starting state and the books compared row by row, modulo ids and
timestamps. The named tests pin the cases a member would notice.
"""

import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from programs.campaign_rules import CampaignTerms, terms_of
from programs.earning import LineInput, purchase_points
from programs.models import (
    Campaign,
    CampaignAward,
    EarnRule,
    EntryKind,
    EntrySource,
    ExpiryPolicy,
    LedgerEntry,
    LotAllocation,
    Membership,
    MembershipStatus,
    PartnerCustomer,
    PointLot,
    Purchase,
    PurchaseLine,
    PurchaseStatus,
    Referral,
    ReturnPolicy,
    Rounding,
    RuleCombination,
    TierChange,
    TierMetric,
    WebhookEvent,
)
from programs.notifications.models import Notification, NotificationKind
from programs.services import awarding
from programs.services.ledger import Actor, points_earn
from programs.services.locking import lock_memberships
from programs.services.memberships import membership_enroll
from programs.services.purchase_refunds import purchase_refund
from programs.services.purchases import LineData, purchase_record, purchases_award
from programs.services.referrals import referral_on_purchase, referral_register
from programs.services.rewards import reward_redeem
from programs.services.tiers import membership_tier_upgrade
from programs.services.webhooks import webhook_subscription_create
from tests.factories import (
    CustomerFactory,
    PartnerFactory,
    ProgramFactory,
    RewardFactory,
    standard_tiers,
)
from tests.programs.bookkeeping import assert_books_balance, program_set

CATEGORIES = ["food", "drinks", "home", "gift"]


def _cap_left(membership: Membership, campaigns: list[CampaignTerms]) -> dict[int, int | None]:
    capped = [c for c in campaigns if c.cap_per_member is not None]
    if not capped:
        return {}
    used = dict(
        CampaignAward.objects.filter(membership=membership, campaign__in=[c.pk for c in capped])
        .values("campaign")
        .annotate(total=Sum("points"))
        .values_list("campaign", "total")
    )
    return {c.pk: max(0, c.cap_per_member - used.get(c.pk, 0)) for c in capped}


def reference_award_one(purchase, membership, lines, rules, campaigns) -> None:
    """One purchase awarded with the ledger operations, step by step: the reference the
    award path is compared with."""
    now = timezone.now()
    purchase.processed_at = now
    if membership.status != MembershipStatus.ACTIVE:
        purchase.status = PurchaseStatus.REJECTED
        purchase.status_reason = "membership not active"
        purchase.points_awarded = 0
        purchase.save(update_fields=["status", "status_reason", "points_awarded", "processed_at"])
        return
    breakdown = purchase_points(
        program=membership.program,
        amount=purchase.amount,
        lines=[LineInput(amount=li.amount, category=li.category, sku=li.sku) for li in lines],
        occurred_at=purchase.occurred_at,
        tier_multiplier=membership.tier.earn_multiplier if membership.tier else Decimal(1),
        rules=rules,
        campaigns=campaigns,
        cap_left=_cap_left(membership, campaigns),
    )
    if breakdown.total > 0:
        points_earn(
            membership,
            points=breakdown.total,
            source=EntrySource.PURCHASE,
            idempotency_key=f"purchase:{purchase.pk}:earn",
            actor=Actor.for_partner(purchase.partner),
            available_at=purchase.occurred_at + timedelta(days=membership.program.pending_days),
            earned_at=purchase.occurred_at,
            reason=f"order {purchase.order_id}",
            at=now,
            purchase=purchase,
        )
        CampaignAward.objects.bulk_create(
            CampaignAward(
                campaign_id=c,
                membership=membership,
                purchase=purchase,
                points=p,
                awarded_on=timezone.localdate(purchase.occurred_at),
            )
            for c, p in breakdown.campaign_points.items()
        )
    for line, share in zip(lines, breakdown.line_points, strict=False):
        line.points = share
    if lines:
        PurchaseLine.objects.bulk_update(lines, ["points"])
    purchase.status = PurchaseStatus.AWARDED
    purchase.points_awarded = breakdown.total
    purchase.breakdown = breakdown.as_json()
    purchase.save(update_fields=["status", "points_awarded", "breakdown", "processed_at"])
    if membership.last_activity_at is None or membership.last_activity_at < purchase.occurred_at:
        membership.last_activity_at = purchase.occurred_at
        membership.save(update_fields=["last_activity_at", "updated_at"])
    membership_tier_upgrade(membership, now)
    referral_on_purchase(membership, purchase)


ENTRY_FIELDS = (
    "idempotency_key",
    "kind",
    "source",
    "points",
    "pending_points",
    "balance_after",
    "pending_after",
    "purchase_id",
    "referral_id",
    "actor_type",
    "actor_partner_id",
    "reason",
)


class Rollback(Exception):
    pass


def legacy_award(purchase_ids) -> int:
    """The per-purchase award path the bulk path replaces, kept as the reference."""
    candidates = list(
        Purchase.objects.filter(pk__in=purchase_ids, status=PurchaseStatus.RECEIVED).values_list(
            "pk", "membership_id"
        )
    )
    if not candidates:
        return 0
    with transaction.atomic():
        memberships = lock_memberships({m for _, m in candidates})
        purchases = list(
            Purchase.objects.select_for_update()
            .filter(pk__in=[p for p, _ in candidates], status=PurchaseStatus.RECEIVED)
            .order_by("pk")
        )
        lines = defaultdict(list)
        for line in PurchaseLine.objects.filter(purchase__in=purchases).order_by("line_no"):
            lines[line.purchase_id].append(line)
        for purchase in purchases:
            pid = purchase.program_id
            membership = memberships[purchase.membership_id]
            reference_award_one(
                purchase,
                membership,
                lines[purchase.pk],
                list(EarnRule.objects.filter(program_id=pid, is_active=True)),
                [
                    terms_of(c)
                    for c in Campaign.objects.filter(program_id=pid, is_active=True).order_by("pk")
                ],
            )
    return len(purchases)


def books() -> dict:
    """Everything awarding writes, keyed by what names it (not by ids or timestamps)."""
    key_of = dict(LedgerEntry.objects.values_list("pk", "idempotency_key"))
    lot_key = {lot.pk: key_of[lot.earn_entry_id] for lot in PointLot.objects.all()}
    entries = defaultdict(list)
    for e in LedgerEntry.objects.order_by("pk"):
        entries[e.membership_id].append(tuple(getattr(e, name) for name in ENTRY_FIELDS))
    return {
        "entries": dict(entries),
        "lots": sorted(_lot(lot, lot_key[lot.pk]) for lot in PointLot.objects.all()),
        "allocations": sorted(
            (key_of[a.entry_id], lot_key[a.lot_id], a.points) for a in LotAllocation.objects.all()
        ),
        "campaign_awards": sorted(
            CampaignAward.objects.values_list("campaign", "membership", "purchase", "points")
        ),
        "purchases": sorted(
            Purchase.objects.values_list(
                "pk", "status", "status_reason", "points_awarded", "breakdown"
            )
        ),
        "unprocessed": Purchase.objects.filter(processed_at__isnull=True).count(),
        "lines": sorted(PurchaseLine.objects.values_list("purchase", "line_no", "points")),
        "memberships": sorted(
            Membership.objects.values_list(
                "pk", "balance", "debt", "pending", "lifetime_earned", "last_activity_at"
            )
        ),
        "tiers": sorted(
            (m.pk, m.tier_id, m.qualified_tier_id, m.tier_review_at is None)
            for m in Membership.objects.all()
        ),
        "tier_changes": list(
            TierChange.objects.order_by("membership", "pk").values_list(
                "membership", "from_tier", "to_tier", "reason", "qualifying_value"
            )
        ),
        "referrals": sorted(
            Referral.objects.values_list("pk", "status", "qualifying_purchase", "risk")
        ),
        "events": _events(),
        "notifications": sorted(
            (n.membership_id, n.kind, sorted(n.params.items()), n.email_state)
            for n in Notification.objects.all()
        ),
    }


def _lot(lot: PointLot, key: str) -> tuple:
    dated_by_purchase = key.startswith("purchase:")  # others are dated "now"
    return (key, lot.membership_id, lot.points, lot.remaining, lot.released_at is None) + (
        (lot.earned_at, lot.expires_at, None if lot.released_at else lot.available_at)
        if dated_by_purchase
        else ()
    )


def _events() -> dict:
    """Webhook events per partner and member in the order written, without ids and times."""
    out = defaultdict(list)
    for event in WebhookEvent.objects.order_by("pk"):
        data = dict(event.payload["data"])
        for volatile in ("entry_id", "change_id", "available_at"):
            data.pop(volatile, None)
        out[event.partner_id, data["member"]].append((event.type, sorted(data.items())))
    return dict(out)


def both_ways(ids) -> tuple[dict, dict]:
    """Books after the legacy path (rolled back), then after the bulk path."""
    try:
        with transaction.atomic():
            legacy_award(ids)
            legacy = books()
            raise Rollback
    except Rollback:
        pass
    purchases_award(ids)
    return legacy, books()


def scenario(rng: random.Random) -> list[int]:
    """Two programs with different rules, a spread of members, received purchases."""
    now = timezone.now()
    stack = ProgramFactory(rule_combination=RuleCombination.STACK)
    best = ProgramFactory(
        rule_combination=RuleCombination.BEST_OF,
        pending_days=14,
        rounding=Rounding.NEAREST,
        tier_metric=TierMetric.POINTS,
        expiry_policy=ExpiryPolicy.FIXED_PERIOD,
        expiry_months=24,
    )
    partners = []
    for program in (stack, best):
        standard_tiers(program)
        EarnRule.objects.create(program=program, name="Gift", category="gift", excluded=True)
        EarnRule.objects.create(
            program=program, name="Drinks", category="drinks", multiplier=Decimal("1.5")
        )
        EarnRule.objects.create(program=program, name="Sku", sku="S7", multiplier=Decimal(3))
        Campaign.objects.create(
            program=program,
            name="Food",
            categories=["food"],
            starts_at=now - timedelta(days=60),
            ends_at=now + timedelta(days=60),
            multiplier=Decimal(2),
            cap_per_member=rng.choice([40, 150, None]),
        )
        Campaign.objects.create(
            program=program,
            name="All",
            starts_at=now - timedelta(days=60),
            ends_at=now + timedelta(days=60),
            multiplier=Decimal("1.2"),
            cap_per_member=rng.choice([25, None]),
        )
        partner = PartnerFactory(programs=[program])
        webhook_subscription_create(
            partner=partner,
            url="https://example.com/hook",
            events=["points.awarded", "tier.changed"],
        )
        partners.append(partner)
    members = []
    for n in range(10):
        program, partner = (stack, partners[0]) if n % 2 == 0 else (best, partners[1])
        customer = CustomerFactory()
        membership, _ = membership_enroll(customer=customer, program=program)
        if rng.random() < 0.5:
            PartnerCustomer.objects.create(partner=partner, customer=customer, external_id=f"c{n}")
        members.append((membership, partner))
    # a member owing points (a return of spent points), and a referred friend
    debtor, debtor_partner = members[0]
    program_set(stack, return_policy=ReturnPolicy.ALLOW_NEGATIVE)
    paid = record(debtor, debtor_partner, Decimal("300.00"), now - timedelta(days=40), [], "d")
    purchases_award([paid.pk])
    reward_redeem(
        membership=debtor, reward=RewardFactory(program=stack, points_cost=300), actor=_system()
    )
    purchase_refund(purchase=paid, refund_id="R1", amount=paid.amount, actor=_system())
    friend, _ = members[2]
    referral_register(referral_code=members[4][0].referral_code, referee=friend)

    ids = []
    for n in range(rng.randrange(25, 60)):
        membership, partner = rng.choice(members)
        lines = []
        for _ in range(rng.randrange(0, 4)):
            lines.append(
                LineData(
                    sku=rng.choice(["", "S1", "S7"]),
                    category=rng.choice(CATEGORIES),
                    quantity=rng.randrange(1, 3),
                    unit_price=Decimal(rng.randrange(50, 40000)) / 100,
                )
            )
        amount = sum((li.amount for li in lines), Decimal(0)) or Decimal(
            rng.randrange(100, 90000)
        ) / Decimal(100)
        occurred = now - timedelta(days=rng.choice([1, 3, 20, 30, 400]), minutes=rng.randrange(600))
        ids.append(record(membership, partner, amount, occurred, lines, f"r{n}").pk)
    suspended = members[6][0]  # suspended after its purchases came in: they are rejected
    Membership.objects.filter(pk=suspended.pk).update(status=MembershipStatus.SUSPENDED)
    rng.shuffle(ids)
    return ids + ids[:3]  # duplicates in the id list


def _system():
    from programs.services.ledger import Actor

    return Actor.system()


def record(membership, partner, amount, occurred_at, lines, order_id) -> Purchase:
    purchase, _ = purchase_record(
        partner=partner,
        membership=membership,
        order_id=order_id,
        amount=amount,
        currency="EUR",
        occurred_at=occurred_at,
        lines=lines,
    )
    return purchase


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(6))
def test_bulk_award_equals_awarding_one_by_one(seed):
    ids = scenario(random.Random(seed))

    legacy, bulk = both_ways(ids)

    for part in legacy:
        assert bulk[part] == legacy[part], part
    assert bulk["unprocessed"] == 0
    covered = {  # the scenario reaches every case the comparison is meant to cover
        "upgrade": TierChange.objects.filter(reason="upgrade").exists(),
        "debt settled": LotAllocation.objects.filter(entry__kind=EntryKind.EARN).exists(),
        "pending": PointLot.objects.filter(released_at__isnull=True).exists(),
        "rejected": Purchase.objects.filter(status=PurchaseStatus.REJECTED).exists(),
        "referral": Referral.objects.filter(qualifying_purchase__isnull=False).exists(),
        "events": WebhookEvent.objects.exists(),
    }
    assert all(covered.values()), covered
    for membership in Membership.objects.all():
        assert_books_balance(membership)


@pytest.fixture
def receive(partner):
    """Record a purchase and leave it received: receive(membership, "20.00", lines=[...])."""
    counter = {"n": 0}

    def _receive(membership, amount, *, lines=(), days_ago=0, **kwargs) -> int:
        counter["n"] += 1
        return record(
            membership,
            kwargs.get("partner", partner),
            Decimal(amount),
            timezone.now() - timedelta(days=days_ago, minutes=5),
            [LineData(**line) for line in lines],
            f"received-{counter['n']}",
        ).pk

    return _receive


def food(amount: str) -> list[dict]:
    return [{"sku": "", "category": "food", "quantity": 1, "unit_price": Decimal(amount)}]


def balances(membership) -> tuple[int, int, int]:
    membership.refresh_from_db()
    return membership.balance, membership.debt, membership.pending


@pytest.mark.django_db
def test_campaign_cap_is_shared_by_the_purchases_of_one_batch(program, membership, receive):
    now = timezone.now()
    campaign = Campaign.objects.create(
        program=program,
        name="Double food",
        categories=["food"],
        starts_at=now - timedelta(days=5),
        ends_at=now + timedelta(days=5),
        multiplier=Decimal(2),
        cap_per_member=30,
    )
    ids = [receive(membership, "20.00", lines=food("20.00")) for _ in range(3)]

    assert purchases_award(ids) == 3

    bonus = dict(CampaignAward.objects.filter(campaign=campaign).values_list("purchase", "points"))
    assert [bonus.get(pk, 0) for pk in ids] == [20, 10, 0]
    assert [Purchase.objects.get(pk=pk).points_awarded for pk in ids] == [40, 30, 20]
    assert balances(membership) == (90, 0, 0)
    assert_books_balance(membership)


def _into_debt(program, membership, buy, points: int) -> None:
    program_set(program, return_policy=ReturnPolicy.ALLOW_NEGATIVE)
    purchase = buy(membership, f"{points}.00")
    reward_redeem(
        membership=membership,
        reward=RewardFactory(program=program, points_cost=points),
        actor=_system(),
    )
    purchase_refund(purchase=purchase, refund_id="R-1", amount=purchase.amount, actor=_system())
    assert balances(membership) == (0, points, 0)


@pytest.mark.django_db
def test_points_pay_back_a_debt_first(program, membership, buy, receive):
    _into_debt(program, membership, buy, 100)
    small, large = receive(membership, "30.00"), receive(membership, "120.00")

    assert purchases_award([large, small]) == 2

    assert balances(membership) == (50, 0, 0)
    entries = LedgerEntry.objects.filter(purchase__in=[small, large]).order_by("pk")
    assert [(e.points, e.balance_after) for e in entries] == [(30, -70), (120, 50)]
    drawn = LotAllocation.objects.filter(entry__in=entries).order_by("entry_id")
    assert [a.points for a in drawn] == [30, 70]
    assert sorted(PointLot.objects.filter(earn_entry__in=entries).values_list("remaining")) == [
        (0,),
        (50,),
    ]
    assert_books_balance(membership)


@pytest.mark.django_db
def test_pending_points_leave_a_debt_open(program, membership, buy, receive):
    _into_debt(program, membership, buy, 100)
    program_set(program, pending_days=14)
    pid = receive(membership, "40.00", days_ago=1)

    purchases_award([pid])

    assert balances(membership) == (0, 100, 40)
    assert PointLot.objects.get(earn_entry__purchase=pid).released_at is None
    assert not LotAllocation.objects.filter(entry__purchase=pid).exists()
    assert_books_balance(membership)


@pytest.mark.django_db
def test_purchases_of_an_inactive_membership_are_rejected_the_rest_awarded(
    program, membership, receive
):
    other, _ = membership_enroll(customer=CustomerFactory(), program=program)
    closed, fine = receive(other, "25.00"), receive(membership, "25.00")
    Membership.objects.filter(pk=other.pk).update(status=MembershipStatus.CLOSED)
    received_breakdown = Purchase.objects.get(pk=closed).breakdown

    assert purchases_award([closed, fine]) == 2

    rejected = Purchase.objects.get(pk=closed)
    assert (rejected.status, rejected.status_reason, rejected.points_awarded) == (
        PurchaseStatus.REJECTED,
        "membership not active",
        0,
    )
    assert rejected.processed_at is not None
    assert rejected.breakdown == received_breakdown  # a rejection leaves it as it was
    assert not LedgerEntry.objects.filter(purchase=closed).exists()
    assert balances(other) == (0, 0, 0)
    assert balances(membership) == (25, 0, 0)


@pytest.mark.django_db
def test_duplicates_in_the_list_and_a_second_run_award_nothing_twice(program, membership, receive):
    ids = [receive(membership, "10.00") for _ in range(4)]

    assert purchases_award(ids + ids[::-1]) == 4
    assert purchases_award(ids) == 0
    assert purchases_award([]) == 0

    assert LedgerEntry.objects.filter(purchase__in=ids).count() == 4
    keys = set(LedgerEntry.objects.values_list("idempotency_key", flat=True))
    assert {f"purchase:{pk}:earn" for pk in ids} <= keys
    assert balances(membership) == (40, 0, 0)
    assert_books_balance(membership)


@pytest.mark.django_db
def test_an_upgrade_within_the_batch_raises_what_later_purchases_earn(
    program, membership, tiers, receive
):
    first, second = receive(membership, "600.00"), receive(membership, "100.00")

    purchases_award([second, first])

    assert [Purchase.objects.get(pk=pk).points_awarded for pk in (first, second)] == [600, 125]
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]
    change = TierChange.objects.filter(membership=membership, reason="upgrade").get()
    assert (change.from_tier, change.to_tier, change.qualifying_value) == (
        tiers["Bronze"],
        tiers["Silber"],
        Decimal("600.00"),
    )


def _award_counting(ids, monkeypatch) -> tuple[int, int, dict[str, int]]:
    """Award ``ids``; returns (all queries, queries inside events_record, events by type)."""
    real = awarding.events_record
    inside = {"queries": 0}
    types = defaultdict(int)

    def counted(items, **kwargs):
        before = len(connection.queries)
        real(items, **kwargs)
        inside["queries"] += len(connection.queries) - before
        for type, _membership, _data in items:
            types[type] += 1

    monkeypatch.setattr(awarding, "events_record", counted)
    with CaptureQueriesContext(connection) as captured:
        assert purchases_award(ids) == len(ids)
    return len(captured), inside["queries"], dict(types)


@pytest.mark.django_db
def test_queries_per_batch_do_not_grow_with_its_size(program, tiers, partner, receive, monkeypatch):
    """Neither the awarding nor the events (webhooks, tier-upgrade notices, the tier-progress
    check) cost more queries for 110 purchases and 55 upgrades than for 5 and 5."""
    now = timezone.now()
    Campaign.objects.create(
        program=program,
        name="Capped",
        categories=["food"],
        starts_at=now - timedelta(days=5),
        ends_at=now + timedelta(days=5),
        cap_per_member=1000,
    )
    webhook_subscription_create(
        partner=partner,
        url="https://shop.example/hook",
        events=["points.awarded", "tier.changed"],
    )
    members = [membership_enroll(customer=CustomerFactory(), program=program)[0] for _ in range(60)]
    for membership in members:
        PartnerCustomer.objects.create(
            partner=partner, customer=membership.customer, external_id=f"m{membership.pk}"
        )
    # 600 EUR crosses Silber (500): every member of both batches is upgraded
    small = [receive(m, "600.00", lines=food("600.00")) for m in members[:5]]
    large = [receive(m, "600.00", lines=food("600.00")) for m in members[5:]]
    large += [receive(m, "9.00") for m in members[5:]]

    total_small, events_small, types_small = _award_counting(small, monkeypatch)
    total_large, events_large, types_large = _award_counting(large, monkeypatch)

    assert types_small == {"points.awarded": 5, "tier.changed": 5}
    assert types_large == {"points.awarded": 110, "tier.changed": 55}
    assert TierChange.objects.filter(reason="upgrade").count() == 60
    assert Notification.objects.filter(kind=NotificationKind.TIER_UPGRADE).count() == 60
    assert WebhookEvent.objects.filter(type="tier.changed").count() == 60
    own_small, own_large = total_small - events_small, total_large - events_large
    assert own_small <= 24  # about twenty of its own, whatever the size (module docstring)
    assert own_large == own_small
    assert events_large == events_small


@pytest.mark.django_db
def test_sweeper_enqueues_whole_members_in_batches(program, receive, monkeypatch):
    from programs import tasks

    members = [membership_enroll(customer=CustomerFactory(), program=program)[0] for _ in range(3)]
    ids = [receive(members[n % 3], "10.00") for n in range(9)]
    Purchase.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    batches: list[list[int]] = []
    monkeypatch.setattr(tasks.award_purchases_task, "delay", batches.append)
    monkeypatch.setattr(tasks, "AWARD_BATCH", 3)
    monkeypatch.setattr(tasks, "SWEEP_CHUNK", 9)

    assert tasks.sweep_received_purchases_task() == 9

    owners = dict(Purchase.objects.values_list("pk", "membership_id"))
    assert sorted(pk for batch in batches for pk in batch) == sorted(ids)
    assert all(len({owners[pk] for pk in batch}) == 1 for batch in batches)
    for batch in batches:
        purchases_award(batch)
    assert tasks.sweep_received_purchases_task() == 0
    assert all(balances(m) == (30, 0, 0) for m in members)
