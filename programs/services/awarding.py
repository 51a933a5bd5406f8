"""Awarding received purchases in batches: the worker's bulk path behind ``purchases_award``.

One transaction per batch and about twenty queries of its own, whatever its size (plus a
few for the batch's events):

1. read which of the purchases are still received, and their memberships;
2. lock those memberships in id order (the order every writer uses), then claim the
   purchases with ``SELECT ... FOR UPDATE SKIP LOCKED`` and status ``received`` re-checked
   under the locks, so a duplicate or overlapping batch awards nothing twice. Memberships
   first, as ``purchase_refund`` does (membership, then purchase): claiming purchases
   before their memberships could deadlock against a refund; and copies of one message
   wait for each other instead of splitting the batch between them;
3. load lines, rules, campaigns, tiers, campaign-cap usage and the tier figures of all of
   them at once (set-based queries);
4. compute every purchase in Python, per membership in purchase order, with the pure
   ``programs.earning`` calculator, moving the cached balances exactly as
   ``ledger.append_entry`` would: same entries, ``balance_after``/``pending_after``, lots,
   debt settling, campaign caps across the purchases of the batch, tier upgrades between
   purchases (a later purchase earns with the new multiplier);
5. write with bulk inserts and one set-based update per table, tier upgrades included
   (``tier_refresh``'s membership update and ``TierChange`` row, for every member who
   crossed a threshold). Purchases and lines are read as tuples, and ledger entries and
   lots written as rows of values under ids reserved before computing (``bulk``): model
   instances for them were a fifth of a batch's CPU;
6. record the batch's events in purchase order, ``points.awarded`` and ``tier.changed``
   interleaved as the one-by-one path writes them, in one ``events_record`` call (partner
   webhooks, tier notifications, the tier-progress check: a few queries for all of them).

Memberships with an open referral (rare: a friend's first purchases) go through the same
steps a purchase at a time, each followed by the referral's turn
(``referrals.referral_on_purchase``), whose welcome bonus is itself an entry that must fall
between the purchase entries. A single purchase is a batch of one: there is no other award
path.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from programs.earning import LineInput, purchase_points
from programs.models import (
    Campaign,
    CampaignAward,
    EarnRule,
    EntryKind,
    EntrySource,
    LotAllocation,
    Membership,
    MembershipStatus,
    PointLot,
    Purchase,
    PurchaseLine,
    PurchaseStatus,
    Referral,
    ReferralStatus,
    Tier,
    TierChange,
    TierChangeReason,
    TierKind,
    TierMetric,
    TierSubscription,
)
from programs.services import events
from programs.services.bulk import (
    ids_reserve,
    rows_insert_values,
    rows_update_values,
)
from programs.services.events import events_record
from programs.services.ledger import lot_expiry
from programs.services.locking import lock_memberships
from programs.services.postings import Actor, Postings
from programs.services.referrals import referral_on_purchase
from programs.services.tiers import (
    effective_tier,
    next_review,
    qualification_window,
    qualifying_values,
    supported_tier,
    tier_change_data,
)

ZERO = Decimal(0)
INACTIVE_REASON = "membership not active"
# The award task, enqueued by name: the tasks module imports the services.
AWARD_TASK = "programs.tasks.award_purchases_task"
# Besides the balance columns (``postings``): what an award changes on a membership.
MEMBERSHIP_FIELDS = [
    "last_activity_at",
    "tier",
    "qualified_tier",
    "qualified_tier_since",
    "tier_review_at",
]
# Read as tuples, written as rows of values (step 5 of the module docstring).
PURCHASE_FIELDS = (
    "pk",
    "program_id",
    "membership_id",
    "partner_id",
    "order_id",
    "amount",
    "occurred_at",
    "status_reason",
)
PURCHASE_WRITES = ["status", "status_reason", "points_awarded", "breakdown", "processed_at"]
REJECT_WRITES = ["status", "status_reason", "points_awarded", "processed_at"]
LINE_FIELDS = ("pk", "purchase_id", "amount", "category", "sku")
LOT_FIELDS = [
    "id",
    "membership_id",
    "earn_entry_id",
    "points",
    "remaining",
    "earned_at",
    "available_at",
    "released_at",
    "expires_at",
]


@dataclass
class _Member:
    """What the batch knows about one locked membership while computing."""

    membership: Membership
    cap_used: dict[int, int] = field(default_factory=dict)
    figures: Decimal | None = None  # qualifying value so far; None: cannot upgrade
    changed: bool = False


@dataclass
class _Context:
    now: datetime
    rules: dict[int, list[EarnRule]]
    campaigns: dict[int, list[Campaign]]
    tiers: dict[int, Tier]
    qualified: dict[int, list[Tier]]
    fee_purchases: set[int]
    windows: dict[int, tuple[datetime, datetime]] = field(default_factory=dict)

    def window(self, program) -> tuple[datetime, datetime]:
        """The program's qualification window at ``now``, computed once per batch."""
        if program.pk not in self.windows:
            self.windows[program.pk] = qualification_window(program, self.now)
        return self.windows[program.pk]


def purchases_award_bulk(purchase_ids: Iterable[int]) -> int:
    """Award the received purchases among ``purchase_ids``; returns how many were processed
    (awarded or rejected). Safe to run twice and concurrently."""
    ids = sorted(set(purchase_ids))
    member_ids = set(
        Purchase.objects.filter(pk__any=ids, status=PurchaseStatus.RECEIVED).values_list(
            "membership_id", flat=True
        )
    )
    if not member_ids:
        return 0
    with transaction.atomic():
        memberships = lock_memberships(member_ids)
        purchases = list(
            Purchase.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                pk__any=ids, status=PurchaseStatus.RECEIVED, membership_id__any=list(memberships)
            )
            .order_by("pk")
            .values_list(*PURCHASE_FIELDS, named=True)
        )
        if not purchases:
            return 0
        _award(purchases, memberships)
    return len(purchases)


def _award(purchases: list, memberships: dict[int, Membership]) -> None:
    now = timezone.now()
    lines = defaultdict(list)
    rows = PurchaseLine.objects.filter(purchase_id__any=[p.pk for p in purchases])
    for line in rows.order_by("purchase_id", "line_no").values_list(*LINE_FIELDS, named=True):
        lines[line.purchase_id].append(line)
    context = _load_context(purchases, memberships, now)
    referred = set(
        Referral.objects.filter(
            referee_id__any={p.membership_id for p in purchases}, qualifying_purchase__isnull=True
        )
        .exclude(status=ReferralStatus.REJECTED)
        .values_list("referee_id", flat=True)
    )
    _award_group(
        [p for p in purchases if p.membership_id not in referred], memberships, lines, context
    )
    # A member with an open referral: each purchase a batch of one, then the referral's
    # turn, so that a friend's welcome bonus falls between their purchase entries.
    for purchase in purchases:
        if purchase.membership_id in referred:
            _award_group([purchase], memberships, lines, context)
            _referral_turn(memberships[purchase.membership_id], purchase.pk)


def _award_group(purchases: list, memberships, lines, context: _Context) -> None:
    if not purchases:
        return
    members = _members(purchases, memberships, context)
    writes = _Writes(len(purchases))
    for purchase in purchases:
        _compute(purchase, members[purchase.membership_id], lines[purchase.pk], context, writes)
    writes.save(members.values(), context.now)
    events = [(type, membership, data()) for type, membership, data in writes.events]
    events_record(events, at=context.now)


def _referral_turn(membership: Membership, purchase_id: int) -> None:
    purchase = Purchase.objects.get(pk=purchase_id)
    if purchase.status == PurchaseStatus.AWARDED:
        referral_on_purchase(membership, purchase)


def _load_context(purchases, memberships, now) -> _Context:
    program_ids = {p.program_id for p in purchases}
    rules, campaigns = defaultdict(list), defaultdict(list)
    for rule in EarnRule.objects.filter(program_id__in=program_ids, is_active=True):
        rules[rule.program_id].append(rule)
    for campaign in Campaign.objects.filter(program_id__in=program_ids, is_active=True):
        campaigns[campaign.program_id].append(campaign)
    tier_program_ids = program_ids | {m.program_id for m in memberships.values()}
    tiers = {t.pk: t for t in Tier.objects.filter(program_id__in=tier_program_ids)}
    qualified = defaultdict(list)
    for tier in sorted(tiers.values(), key=lambda t: t.rank):
        if tier.kind == TierKind.QUALIFIED:
            qualified[tier.program_id].append(tier)
    spend_programs = {
        m.program_id
        for m in memberships.values()
        if m.program.tier_metric != TierMetric.POINTS and qualified.get(m.program_id)
    }
    fees = set()
    if spend_programs:
        fees = set(
            TierSubscription.objects.filter(
                purchase_id__any=[p.pk for p in purchases if p.program_id in spend_programs]
            ).values_list("purchase_id", flat=True)
        )
    return _Context(now, rules, campaigns, tiers, qualified, fees)


def _members(purchases, memberships, context: _Context) -> dict[int, _Member]:
    """Per membership of the batch: tier objects attached (no lazy loads), campaign-cap
    usage so far and, for those that may still be upgraded, the qualifying figures."""
    members = {}
    for purchase in purchases:
        if purchase.membership_id in members:
            continue
        membership = memberships[purchase.membership_id]
        for name in ("tier", "qualified_tier", "override_tier", "subscription_tier"):
            setattr(membership, name, context.tiers.get(getattr(membership, f"{name}_id")))
        members[membership.pk] = _Member(membership)
    active = [m for m in members.values() if m.membership.status == MembershipStatus.ACTIVE]
    capped = {
        c.pk
        for m in active
        for c in context.campaigns.get(m.membership.program_id, [])
        if c.cap_per_member is not None
    }
    if capped:
        used = (
            CampaignAward.objects.filter(
                membership_id__any=[m.membership.pk for m in active], campaign__in=capped
            )
            .values("membership", "campaign")
            .annotate(total=Sum("points"))
            .values_list("membership", "campaign", "total")
        )
        for membership_id, campaign_id, total in used:
            members[membership_id].cap_used[campaign_id] = total
    by_program = defaultdict(list)
    for member in active:
        membership = member.membership
        top = context.qualified.get(membership.program_id)
        if top and _rank(membership.qualified_tier) < top[-1].rank:
            by_program[membership.program_id].append(member)
    for group in by_program.values():
        program = group[0].membership.program
        start, end = context.window(program)
        figures = qualifying_values(
            program.tier_metric, [m.membership.pk for m in group], start, end
        )
        for member in group:
            member.figures = figures.get(member.membership.pk, ZERO)
    return members


def _rank(tier: Tier | None) -> int:
    return -1 if tier is None else tier.rank


class _Writes:
    """Rows to insert and update, and the events to record once they are written."""

    def __init__(self, size: int):
        # at most one entry and one lot per purchase: their ids are known while computing
        self.postings = Postings(expected=size)
        self.lot_ids = iter(ids_reserve(PointLot, size))
        self.lots: list[list] = []  # LOT_FIELDS
        self.allocations: list[LotAllocation] = []
        self.awards: list[CampaignAward] = []
        self.tier_changes: list[TierChange] = []
        self.lines: list[tuple[int, int]] = []  # (id, points)
        self.purchases: list[tuple] = []  # (id, *PURCHASE_WRITES)
        self.rejected: list[tuple] = []  # (id, *REJECT_WRITES)
        # (type, membership, data): data is built after the inserts, which give the ids
        self.events: list[tuple[str, Membership, Callable[[], dict]]] = []

    def save(self, members: Iterable[_Member], now: datetime) -> None:
        for member in members:
            if member.changed:
                self.postings.touch(member.membership)
        self.postings.write(also=MEMBERSHIP_FIELDS)
        rows_insert_values(PointLot, LOT_FIELDS, self.lots)
        LotAllocation.objects.bulk_create(self.allocations)
        CampaignAward.objects.bulk_create(self.awards)
        TierChange.objects.bulk_create(self.tier_changes)
        rows_update_values(PurchaseLine, ["points"], self.lines)
        rows_update_values(Purchase, PURCHASE_WRITES, self.purchases)
        rows_update_values(Purchase, REJECT_WRITES, self.rejected)


def _compute(purchase, member: _Member, lines, context: _Context, writes: _Writes) -> None:
    """Award one purchase (a ``PURCHASE_FIELDS`` tuple) into ``writes``: points from the
    earning calculator, the entry, lot and campaign awards, the lines' shares, the
    purchase's new status, the member's last activity and a tier upgrade."""
    membership, now = member.membership, context.now
    if membership.status != MembershipStatus.ACTIVE:
        writes.rejected.append((purchase.pk, PurchaseStatus.REJECTED, INACTIVE_REASON, 0, now))
        return
    program = membership.program
    campaigns = context.campaigns.get(purchase.program_id, [])
    cap_left = {
        c.pk: max(0, c.cap_per_member - member.cap_used.get(c.pk, 0))
        for c in campaigns
        if c.cap_per_member is not None
    }
    breakdown = purchase_points(
        program=program,
        amount=purchase.amount,
        lines=[LineInput(amount=li.amount, category=li.category, sku=li.sku) for li in lines],
        occurred_at=purchase.occurred_at,
        tier_multiplier=membership.tier.earn_multiplier if membership.tier else Decimal(1),
        rules=context.rules.get(purchase.program_id, []),
        campaigns=campaigns,
        cap_left=cap_left,
    )
    total = breakdown.total
    if total > 0:
        _credit(purchase, member, total, program, now, writes)
        for campaign_id, points in breakdown.campaign_points.items():
            writes.awards.append(
                CampaignAward(
                    campaign_id=campaign_id,
                    membership=membership,
                    purchase_id=purchase.pk,
                    points=points,
                )
            )
            member.cap_used[campaign_id] = member.cap_used.get(campaign_id, 0) + points
    for line, share in zip(lines, breakdown.line_points, strict=False):
        writes.lines.append((line.pk, share))
    writes.purchases.append(
        (
            purchase.pk,
            PurchaseStatus.AWARDED,
            purchase.status_reason,
            total,
            breakdown.as_json(),
            now,
        )
    )
    if membership.last_activity_at is None or membership.last_activity_at < purchase.occurred_at:
        membership.last_activity_at = purchase.occurred_at
        member.changed = True
    _upgrade_check(purchase, member, total, context, writes)


def _credit(purchase, member: _Member, points: int, program, now, writes: _Writes) -> None:
    """``ledger.points_earn`` for the batch: the entry posted, lot and debt settling in
    memory, then its event."""
    membership = member.membership
    available_at = purchase.occurred_at + timedelta(days=program.pending_days)
    pending = available_at > now
    moved = 0 if pending else points
    reason = f"order {purchase.order_id}"
    posted = writes.postings.post(
        membership,
        kind=EntryKind.EARN,
        source=EntrySource.PURCHASE,
        idempotency_key=f"purchase:{purchase.pk}:earn",
        actor=Actor.for_partner_id(purchase.partner_id),
        points=moved,
        pending_points=points if pending else 0,
        reason=reason,
        at=now,
        purchase_id=purchase.pk,
    )
    member.changed = True
    available = posted.balance_after
    entry_id, lot_id = posted.id, next(writes.lot_ids)
    remaining = points
    if not pending:  # ledger._settle_debt: the new points pay back a debt first
        draw = min(max(0, moved - available), moved, remaining)
        if draw:
            remaining -= draw
            writes.allocations.append(LotAllocation(entry_id=entry_id, lot_id=lot_id, points=draw))
    lot_available_at = available_at if pending else now
    writes.lots.append(
        [
            lot_id,
            membership.pk,
            entry_id,
            points,
            remaining,
            purchase.occurred_at,
            lot_available_at,
            None if pending else now,
            lot_expiry(program, purchase.occurred_at),
        ]
    )

    def data() -> dict:
        return {
            "entry_id": entry_id,
            "points": points,
            "pending": pending,
            "available_at": lot_available_at,
            "source": EntrySource.PURCHASE,
            "reason": reason,
        }

    writes.events.append((events.POINTS_AWARDED, membership, data))


def _upgrade_check(purchase, member: _Member, points: int, context: _Context, writes) -> None:
    """``tiers.membership_tier_upgrade`` with the figures kept up to date in memory, and
    ``tier_refresh``'s change row and event written with the batch."""
    if member.figures is None:
        return
    membership, now = member.membership, context.now
    program = membership.program
    start, end = context.window(program)
    in_window = start <= purchase.occurred_at <= end  # both metrics date by the purchase
    if program.tier_metric == TierMetric.POINTS:
        member.figures += points if in_window else 0
        value = max(member.figures, ZERO)
    else:
        if in_window and purchase.pk not in context.fee_purchases:
            member.figures += purchase.amount
        value = member.figures
    tiers = context.qualified[program.pk]
    target = supported_tier(tiers, value)
    if _rank(target) <= _rank(membership.qualified_tier):
        return
    membership.qualified_tier = target
    membership.qualified_tier_since = now
    membership.tier_review_at = next_review(program, now)
    member.changed = True
    if target.pk == tiers[-1].pk:
        member.figures = None  # at the top: nothing left to check
    old, new = membership.tier, effective_tier(membership, now)
    membership.tier = new
    if _rank(new) == _rank(old):
        return  # e.g. a staff override still wins: saved, but no change of the tier
    change = TierChange(
        membership=membership,
        from_tier=old,
        to_tier=new,
        reason=TierChangeReason.UPGRADE,
        qualifying_value=value,
        window_start=start,
        window_end=end,
        note="",
    )
    writes.tier_changes.append(change)

    def data() -> dict:
        return tier_change_data(change)

    writes.events.append((events.TIER_CHANGED, membership, data))
