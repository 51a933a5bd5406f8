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
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from programs.campaign_rules import reaches
from programs.earning import LineInput, purchase_points
from programs.models import (
    Campaign,
    CampaignAward,
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
    TierChange,
    TierChangeReason,
    TierMetric,
)
from programs.services import events
from programs.services.award_reading import Context, Member, context_load, members_load
from programs.services.events import events_record
from programs.services.expiry_rules import lot_expiry
from programs.services.locking import lock_memberships
from programs.services.postings import Actor, Postings
from programs.services.referrals import referral_on_purchase
from programs.services.table_rows import (
    ids_reserve,
    rows_insert_values,
    rows_update_values,
)
from programs.services.tier_figures import Qualification, tier_rank
from programs.services.tiers import (
    effective_tier,
    qualified_tier_raise,
    tier_change_data,
    tier_change_new,
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
    context = context_load(purchases, memberships, now)
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


def _award_group(purchases: list, memberships, lines, context: Context) -> None:
    if not purchases:
        return
    members = members_load(purchases, memberships, context)
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


class _Writes:
    """Rows to insert and update, and the events to record once they are written."""

    def __init__(self, size: int):
        # at most one entry and one lot per purchase: their ids are known while computing
        self.postings = Postings(expected=size)
        self.lot_ids = iter(ids_reserve(PointLot, size))
        self.lots: list[list] = []  # LOT_FIELDS
        self.allocations: list[LotAllocation] = []
        self.awards: list[CampaignAward] = []
        self.campaign_points: dict[int, int] = defaultdict(int)  # bonus per campaign
        self.tier_changes: list[TierChange] = []
        self.lines: list[tuple[int, int]] = []  # (id, points)
        self.purchases: list[tuple] = []  # (id, *PURCHASE_WRITES)
        self.rejected: list[tuple] = []  # (id, *REJECT_WRITES)
        # (type, membership, data): data is built after the inserts, which give the ids
        self.events: list[tuple[str, Membership, Callable[[], dict]]] = []

    def save(self, members: Iterable[Member], now: datetime) -> None:
        for member in members:
            if member.changed:
                self.postings.touch(member.membership)
        self.postings.write(also=MEMBERSHIP_FIELDS)
        rows_insert_values(PointLot, LOT_FIELDS, self.lots)
        LotAllocation.objects.bulk_create(self.allocations)
        CampaignAward.objects.bulk_create(self.awards)
        for campaign_id, points in sorted(self.campaign_points.items()):
            Campaign.objects.filter(pk=campaign_id).update(
                points_awarded=F("points_awarded") + points
            )
        TierChange.objects.bulk_create(self.tier_changes)
        rows_update_values(PurchaseLine, ["points"], self.lines)
        rows_update_values(Purchase, PURCHASE_WRITES, self.purchases)
        rows_update_values(Purchase, REJECT_WRITES, self.rejected)


def _compute(purchase, member: Member, lines, context: Context, writes: _Writes) -> None:
    """Award one purchase (a ``PURCHASE_FIELDS`` tuple) into ``writes``: points from the
    earning calculator, the entry, lot and campaign awards, the lines' shares, the
    purchase's new status, the member's last activity and a tier upgrade."""
    membership, now = member.membership, context.now
    if membership.status != MembershipStatus.ACTIVE:
        writes.rejected.append((purchase.pk, PurchaseStatus.REJECTED, INACTIVE_REASON, 0, now))
        return
    program = membership.program
    tier_id = membership.tier.pk if membership.tier else None
    running = context.campaigns.get(purchase.program_id, [])
    # only campaigns' daily caps need the local day (18 ms of a batch's ~250 ms of CPU)
    day = timezone.localdate(purchase.occurred_at) if running else None
    campaigns = [
        c
        for c in running
        if reaches(
            c,
            tier_id=tier_id,
            partner_id=purchase.partner_id,
            first_purchase=not member.has_purchased,
            reached=c.pk in member.reached,
        )
    ]
    cap_left = {c.pk: member.cap_left(c, day, context.budget_left) for c in campaigns}
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
                    awarded_on=day,
                )
            )
            member.bonus_given(campaign_id, day, points)
            if campaign_id in context.budget_left:
                context.budget_left[campaign_id] -= points
            writes.campaign_points[campaign_id] += points
    member.has_purchased = True
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


def _credit(purchase, member: Member, points: int, program, now, writes: _Writes) -> None:
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
        effective_at=purchase.occurred_at,  # the business time, as the lot's earned_at
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


def _upgrade_check(purchase, member: Member, points: int, context: Context, writes) -> None:
    """The upgrade rule (``tiers.qualified_tier_raise``) with the figures kept up to date
    in memory, and the change row (``tiers.tier_change_new``) and its event written with
    the batch."""
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
    if not qualified_tier_raise(membership, tiers, value, now):
        return
    member.changed = True
    if membership.qualified_tier.pk == tiers[-1].pk:
        member.figures = None  # at the top: nothing left to check
    old, new = membership.tier, effective_tier(membership, now)
    membership.tier = new
    if tier_rank(new) == tier_rank(old):
        return  # e.g. a staff override still wins: saved, but no change of the tier
    figures = Qualification(value=value, window_start=start, window_end=end)
    change = tier_change_new(
        membership,
        old_id=old.pk if old else None,
        new=new,
        reason=TierChangeReason.UPGRADE,
        figures=figures,
    )
    change.from_tier = old  # loaded already: the event data reads it
    writes.tier_changes.append(change)

    def data() -> dict:
        return tier_change_data(change)

    writes.events.append((events.TIER_CHANGED, membership, data))
