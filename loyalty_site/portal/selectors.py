"""Reads for the portal. Every query here is scoped to one customer or one of their
memberships, which the views take from ``request.user`` only."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from customers.models import Customer
from programs.models import (
    Account,
    AccountInvitation,
    AccountMember,
    EntryKind,
    InvitationStatus,
    LedgerEntry,
    Membership,
    PointLot,
    Purchase,
    PurchaseStatus,
    Redemption,
    RedemptionStatus,
    Referral,
    Tier,
)
from programs.selectors import (
    CatalogueItem,
    MembershipBalance,
    membership_balance,
    reward_catalogue,
)
from programs.services.account_spending import month_start

EXPIRING_WITHIN_DAYS = 90
# A reward is "within reach" when the points still missing are at most this share of its
# price, or no more than the points already pending.
WITHIN_REACH_SHARE = Decimal("0.25")


def customer_memberships(*, customer: Customer) -> list[Membership]:
    return list(
        Membership.objects.filter(customer=customer)
        .select_related("program", "tier", "qualified_tier")
        .order_by("program__name", "pk")
    )


def membership_pending(*, membership: Membership, limit: int = 5) -> list[dict]:
    """Pending points grouped by the moment they become available, soonest first."""
    return list(
        PointLot.objects.filter(membership=membership, released_at__isnull=True, remaining__gt=0)
        .values("available_at")
        .annotate(points=Sum("remaining"))
        .order_by("available_at")[:limit]
    )


def ledger_history(
    *,
    membership: Membership,
    kinds: list[str] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[LedgerEntry]:
    """A membership's entries, newest first by when they count (``effective_at``: an order
    shows at its purchase date, however late it was reported); the dates filter the same."""
    entries = LedgerEntry.objects.filter(membership=membership)
    if kinds:
        entries = entries.filter(kind__in=kinds)
    tz = timezone.get_current_timezone()
    if date_from:
        entries = entries.filter(effective_at__gte=datetime.combine(date_from, time.min, tz))
    if date_to:
        end = datetime.combine(date_to + timedelta(days=1), time.min, tz)
        entries = entries.filter(effective_at__lt=end)
    return entries.select_related(
        "purchase", "redemption__reward", "action_event__rule", "referral", "hold"
    ).order_by("-effective_at", "-id")


@dataclass(frozen=True)
class Dashboard:
    membership: Membership
    balance: MembershipBalance
    pending: list[dict]
    tier: Tier | None
    recent: list[LedgerEntry]

    @property
    def progress_percent(self) -> int:
        progress = self.balance.progress
        if progress.next_tier is None or progress.next_tier.threshold <= 0:
            return 100
        share = progress.qualifying_value / progress.next_tier.threshold * 100
        return int(max(0, min(100, share)))


def membership_dashboard(*, membership: Membership, recent: int = 5) -> Dashboard:
    balance = membership_balance(membership=membership, expiring_within_days=EXPIRING_WITHIN_DAYS)
    return Dashboard(
        membership=membership,
        balance=balance,
        pending=membership_pending(membership=membership),
        tier=membership.tier,
        recent=list(ledger_history(membership=membership)[:recent]),
    )


@dataclass(frozen=True)
class RewardOption:
    item: CatalogueItem
    missing: int  # points still needed (0 when affordable)

    @property
    def reward(self):
        return self.item.reward


@dataclass(frozen=True)
class RewardShelves:
    now: list[RewardOption]
    within_reach: list[RewardOption]
    later: list[RewardOption]
    locked: list[RewardOption]


def reward_shelves(*, membership: Membership) -> RewardShelves:
    """The catalogue sorted the way a member reads it: affordable now, within reach,
    further away (or unavailable), and locked behind a higher tier."""
    shelves = RewardShelves([], [], [], [])
    for item in reward_catalogue(membership=membership):
        missing = max(0, item.reward.points_cost - membership.balance)
        option = RewardOption(item, missing)
        if item.tier_locked:
            shelves.locked.append(option)
        elif item.redeemable:
            shelves.now.append(option)
        elif item.unavailable_reason == "insufficient_points" and (
            missing <= membership.pending or missing <= item.reward.points_cost * WITHIN_REACH_SHARE
        ):
            shelves.within_reach.append(option)
        else:
            shelves.later.append(option)
    return shelves


def customer_redemptions(*, customer: Customer) -> QuerySet[Redemption]:
    """The customer's redemptions: their own, and those they made from a shared account."""
    return Redemption.objects.filter(
        Q(membership__customer=customer) | Q(placed_by__customer=customer)
    ).select_related("reward", "membership__program")


def _short_name(customer: Customer) -> str:
    """ "Clara N.": how one side of a referral is shown to the other."""
    initial = f" {customer.last_name[:1]}." if customer.last_name else ""
    return f"{customer.first_name}{initial}".strip()


@dataclass(frozen=True)
class ReferralTimeline:
    """One referral as either side follows it: joined through the link, the friend's
    first qualifying purchase, then the reward (paid on a date, expected on a date, waiting
    for a step, in review or refused). ``points`` is what this side gets."""

    referral: Referral
    other_name: str  # the friend (seen by the referrer) or the referrer (seen by the friend)
    joined_at: datetime
    purchased_at: datetime | None
    min_purchase: Decimal
    currency: str
    pending_days: int
    points: int
    rewarded_at: datetime | None  # when this side's points were credited
    expected_at: datetime | None  # when this side's points are due, once known
    points_earned: int = 0

    @property
    def status(self) -> str:
        return self.referral.status


def referral_timelines(*, membership: Membership) -> list[ReferralTimeline]:
    """The friends this member invited, newest first, each with the referrer's reward:
    paid (``rewarded_at``), or expected at the end of the return window after the
    friend's first purchase (``release_at``)."""
    program = membership.program
    return [
        _timeline(
            referral,
            program,
            other=referral.referee.customer,
            points=program.referrer_points,
            rewarded_at=referral.rewarded_at,
            expected_at=referral.release_at if referral.rewarded_at is None else None,
            points_earned=referral.points_earned,
        )
        for referral in referrals_made(membership=membership).select_related("qualifying_purchase")
    ]


def _timeline(referral: Referral, program, *, other, **reward) -> ReferralTimeline:
    """A referral's steps as one side sees them: ``other`` is the friend on the other side,
    ``reward`` this side's points, when they came or are expected, and how many."""
    purchase = referral.qualifying_purchase if referral.qualifying_purchase_id else None
    return ReferralTimeline(
        referral=referral,
        other_name=_short_name(other),
        joined_at=referral.created_at,
        purchased_at=purchase.occurred_at if purchase is not None else None,
        min_purchase=program.referral_min_purchase,
        currency=program.currency,
        pending_days=program.pending_days,
        **reward,
    )


def referral_received(*, membership: Membership) -> ReferralTimeline | None:
    """How this member joined through a friend, if they did: who invited them and when,
    and their welcome bonus (credited with the first qualifying purchase, or after staff
    cleared the referral)."""
    referral = (
        Referral.objects.filter(referee=membership)
        .select_related("referrer__customer", "qualifying_purchase", "program")
        .first()
    )
    if referral is None:
        return None
    program = referral.program
    bonus = (
        LedgerEntry.objects.filter(membership=membership, referral=referral, kind=EntryKind.EARN)
        .order_by("created_at", "id")
        .first()
    )
    return _timeline(
        referral,
        program,
        other=referral.referrer.customer,
        points=program.referee_points,
        rewarded_at=bonus.created_at if bonus is not None else None,
        expected_at=None,
        points_earned=(bonus.points + bonus.pending_points) if bonus is not None else 0,
    )


def referrals_made(*, membership: Membership) -> QuerySet[Referral]:
    """The friends this member invited, with the points the member earned for each."""
    earned = (
        LedgerEntry.objects.filter(
            membership=membership, referral=OuterRef("pk"), kind=EntryKind.EARN
        )
        .values("referral")
        .annotate(total=Sum("points") + Sum("pending_points"))
        .values("total")
    )
    return (
        Referral.objects.filter(referrer=membership)
        .select_related("referee__customer")
        .annotate(points_earned=Coalesce(Subquery(earned, output_field=IntegerField()), 0))
        .order_by("-created_at", "-id")
    )


# --- shared accounts ----------------------------------------------------------------------


@dataclass
class Figures:
    """What one member bought and redeemed for the account, in a period."""

    purchases: int = 0
    amount: Decimal = Decimal(0)
    points: int = 0
    redemptions: int = 0
    redeemed: int = 0


@dataclass
class MemberActivity:
    """One (present or former) member of an account: who earned and spent what."""

    member: AccountMember
    month: Figures
    total: Figures

    @property
    def name(self) -> str:
        customer = self.member.membership.customer
        return f"{customer.first_name} {customer.last_name}".strip()


def portal_customer(*, user) -> Customer | None:
    """The signed-in user's customer, with ``shared_account_shown``: does the portal show
    the shared-account page (the customer belongs to an account, or an invitation to
    their address is open). One query, on every portal page."""
    member = AccountMember.objects.filter(membership__customer=OuterRef("pk"), left_at__isnull=True)
    invited = AccountInvitation.objects.filter(
        email__iexact=OuterRef("email"),
        status=InvitationStatus.OPEN,
        expires_at__gt=timezone.now(),
    )
    return (
        Customer.objects.filter(user=user)
        .annotate(shared_account_shown=Exists(member) | Exists(invited))
        .first()
    )


def account_holder(*, account: Account) -> Membership:
    """The account's own membership (its balance and tier), fresh from the database."""
    return Membership.objects.select_related("program", "tier", "qualified_tier").get(
        pk=account.holder_id
    )


def account_members(*, account: Account) -> list[AccountMember]:
    """The account's present members, managing ones first."""
    members = (
        AccountMember.objects.filter(account=account, left_at__isnull=True)
        .select_related("membership__customer")
        .order_by("joined_at", "pk")
    )
    return sorted(members, key=lambda m: not m.manages)


def account_invitations_open(*, account: Account) -> list[AccountInvitation]:
    return list(
        AccountInvitation.objects.filter(
            account=account, status=InvitationStatus.OPEN, expires_at__gt=timezone.now()
        ).order_by("-created_at")
    )


def account_activity(*, account: Account, now: datetime | None = None) -> list[MemberActivity]:
    """Purchases and redemptions per member, this calendar month and in total. Where the
    program pools, those recorded on the account's holder with the member as
    ``placed_by``; where it does not, each member's own since they joined."""
    start = month_start(now or timezone.now())
    rows = AccountMember.objects.filter(account=account).select_related("membership__customer")
    people: dict[int, AccountMember] = {}
    for row in rows.order_by("joined_at", "pk"):  # a member who rejoined: the latest row
        people[row.membership_id] = row
    if not people:
        return []
    purchases = Purchase.objects.exclude(
        status__in=[PurchaseStatus.REJECTED, PurchaseStatus.FAILED]
    )
    redemptions = Redemption.objects.exclude(status=RedemptionStatus.CANCELLED)
    if account.program.accounts_pool:
        who = "placed_by"
        purchases = purchases.filter(membership_id=account.holder_id, placed_by__in=people)
        redemptions = redemptions.filter(membership_id=account.holder_id, placed_by__in=people)
    else:
        who = "membership"
        purchases = purchases.filter(_since(people, "occurred_at"))
        redemptions = redemptions.filter(_since(people, "created_at"))
    points = Coalesce("points_awarded", "points_expected")
    month = Q(occurred_at__gte=start)
    bought = purchases.values(who).annotate(
        total_n=Count("pk"),
        total_amount=Sum("amount"),
        total_points=Sum(points),
        month_n=Count("pk", filter=month),
        month_amount=Sum("amount", filter=month),
        month_points=Sum(points, filter=month),
    )
    month = Q(created_at__gte=start)
    spent = redemptions.values(who).annotate(
        total_n=Count("pk"),
        total_points=Sum("points"),
        month_n=Count("pk", filter=month),
        month_points=Sum("points", filter=month),
    )
    figures = {pk: {"month": Figures(), "total": Figures()} for pk in people}
    for row in bought:
        for period in ("month", "total"):
            f = figures[row[who]][period]
            f.purchases = row[f"{period}_n"]
            f.amount = row[f"{period}_amount"] or Decimal(0)
            f.points = row[f"{period}_points"] or 0
    for row in spent:
        for period in ("month", "total"):
            f = figures[row[who]][period]
            f.redemptions = row[f"{period}_n"]
            f.redeemed = row[f"{period}_points"] or 0
    activity = [MemberActivity(people[pk], **figures[pk]) for pk in people]
    # present members first, then those who left
    return sorted(activity, key=lambda a: a.member.left_at is not None)


def _since(people: dict[int, AccountMember], field: str) -> Q:
    """Each member's own rows from when they joined (until they left)."""
    q = Q(pk__in=[])
    for membership_id, row in people.items():
        one = Q(membership_id=membership_id, **{f"{field}__gte": row.joined_at})
        if row.left_at is not None:
            one &= Q(**{f"{field}__lt": row.left_at})
        q |= one
    return q
