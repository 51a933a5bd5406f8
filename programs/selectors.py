"""Reads for the partner API: every queryset here is scoped to what one partner may see.

A partner sees the customers it has linked (``PartnerCustomer``), their memberships in the
programs it takes part in, the purchases it posted and the points holds it placed itself,
and the redemptions of its linked members in its programs. Anything else does not exist
for it (404).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from programs.models import (
    CampaignAward,
    EntryKind,
    LedgerEntry,
    Membership,
    MembershipStatus,
    Partner,
    PartnerCustomer,
    PointLot,
    PointsHold,
    Program,
    Purchase,
    Redemption,
    RedemptionStatus,
    Referral,
    Reward,
    Tier,
    TierKind,
)
from programs.services.tier_figures import next_tier, qualification, qualified_tiers


def partner_programs(*, partner: Partner) -> QuerySet[Program]:
    return partner.programs.all()


def partner_members(*, partner: Partner) -> QuerySet[PartnerCustomer]:
    """The partner's links, each with ``visible_memberships`` prefetched (with their
    program, tier and figures)."""
    return (
        PartnerCustomer.objects.filter(partner=partner)
        .select_related("customer", "claim")
        .prefetch_related(
            Prefetch(
                "customer__memberships",
                queryset=Membership.objects.filter(program__partners=partner)
                .select_related("program", "tier", "figures")
                .order_by("program__slug"),
                to_attr="visible_memberships",
            )
        )
    )


def partner_member_get(*, partner: Partner, external_id: str) -> PartnerCustomer | None:
    return partner_members(partner=partner).filter(external_id=external_id).first()


MEMBER_RELATED = ("program", "tier", "qualified_tier")


def partner_program_ids_query(partner: Partner):
    """The partner's programs, as a subquery."""
    return Partner.programs.through.objects.filter(partner=partner).values("program_id")


def partner_member_memberships(
    *, partner: Partner, external_id: str, related: tuple[str, ...] = MEMBER_RELATED
) -> list[Membership]:
    """The memberships ``partner`` may see of its member ``external_id``, with ``related``,
    in one query (ordered by program slug). Empty if the member is unknown or has none.
    The link is a subquery rather than a join through customers: about half the planning
    time of the join for the same rows."""
    links = PartnerCustomer.objects.filter(partner=partner, external_id=external_id)
    return list(
        Membership.objects.filter(
            customer_id__in=links.values("customer_id"),
            program_id__in=partner_program_ids_query(partner),
        )
        .select_related(*related)
        .order_by("program__slug")
    )


def partner_members_memberships(
    *, partner: Partner, external_ids: Iterable[str]
) -> dict[str, list[Membership]]:
    """For each of ``external_ids`` that is the partner's member: the memberships the
    partner may see (ordered by program slug, possibly none), with program and tier.
    Unknown ids are left out. Four queries whatever the number of ids; memberships of the
    same program share one program object and one object per tier (joining them would
    build a program and a tier per membership: most of the time of a 1,000-id lookup)."""
    customers = dict(
        PartnerCustomer.objects.filter(
            partner=partner, external_id__any=list(external_ids)
        ).values_list("customer_id", "external_id")
    )
    found: dict[str, list[Membership]] = {external_id: [] for external_id in customers.values()}
    if not customers:
        return found
    memberships = list(
        Membership.objects.filter(
            customer_id__any=list(customers), program_id__in=partner_program_ids_query(partner)
        ).order_by("program__slug")
    )
    program_ids = {m.program_id for m in memberships}
    programs = Program.objects.in_bulk(program_ids)
    tiers = {tier.pk: tier for tier in Tier.objects.filter(program_id__in=program_ids)}
    for membership in memberships:
        membership.program = programs[membership.program_id]
        membership.tier = tiers.get(membership.tier_id)
        found[customers[membership.customer_id]].append(membership)
    return found


def members_filter(
    members: QuerySet[PartnerCustomer],
    *,
    partner: Partner,
    program: Program | None = None,
    tier: str | None = None,
    updated_since: datetime | None = None,
) -> QuerySet[PartnerCustomer]:
    memberships = Membership.objects.filter(
        customer=OuterRef("customer"), program__partners=partner
    )
    if program is not None:
        memberships = memberships.filter(program=program)
    if program is not None or tier:
        if tier:
            memberships = memberships.filter(tier__name__iexact=tier)
        members = members.filter(Exists(memberships))
    if updated_since is not None:
        changed = Membership.objects.filter(
            customer=OuterRef("customer"), program__partners=partner, updated_at__gte=updated_since
        )
        members = members.filter(
            Q(updated_at__gte=updated_since)
            | Q(customer__updated_at__gte=updated_since)
            | Exists(changed)
        )
    return members


def partner_purchases(*, partner: Partner) -> QuerySet[Purchase]:
    """Purchases the partner posted, with the member's external id as ``member_external_id``."""
    external_id = PartnerCustomer.objects.filter(
        partner=partner, customer=OuterRef("membership__customer")
    ).values("external_id")[:1]
    return (
        Purchase.objects.filter(partner=partner)
        .select_related("program")
        .prefetch_related("lines", "refunds")
        .annotate(member_external_id=Subquery(external_id))
    )


def partner_redemptions(*, partner: Partner) -> QuerySet[Redemption]:
    """Redemptions of the partner's linked members in the partner's programs, also those
    a linked member made from a shared account's balance (``placed_by``; the external id
    is then the member's)."""
    linked = PartnerCustomer.objects.filter(
        partner=partner, customer=OuterRef("membership__customer")
    )
    placed = PartnerCustomer.objects.filter(
        partner=partner, customer__memberships=OuterRef("placed_by")
    )
    return (
        Redemption.objects.filter(
            Q(Exists(linked)) | Q(Exists(placed)),
            membership__program__partners=partner,
        )
        .select_related("reward", "membership__program")
        .annotate(
            member_external_id=Coalesce(
                Subquery(placed.values("external_id")[:1]),
                Subquery(linked.values("external_id")[:1]),
            )
        )
    )


def partner_holds(*, partner: Partner) -> QuerySet[PointsHold]:
    """Holds the partner placed itself, in its programs, with the member's external id."""
    external_id = PartnerCustomer.objects.filter(
        partner=partner, customer=OuterRef("membership__customer")
    ).values("external_id")[:1]
    return (
        PointsHold.objects.filter(partner=partner, membership__program__partners=partner)
        .select_related("membership__program")
        .annotate(member_external_id=Subquery(external_id))
    )


def partner_card(*, partner: Partner, card_number: str) -> Membership | None:
    """The membership with this card number if it is in one of the partner's programs
    (else None, as for a number that does not exist), with the partner's external id of
    the customer as ``member_external_id`` (None: not linked)."""
    external_id = PartnerCustomer.objects.filter(
        partner=partner, customer=OuterRef("customer")
    ).values("external_id")[:1]
    return (
        Membership.objects.filter(
            card_number=card_number, program_id__in=partner_program_ids_query(partner)
        )
        .select_related("program", "tier")
        .annotate(member_external_id=Subquery(external_id))
        .first()
    )


def membership_history(*, memberships: Iterable[Membership | int]) -> QuerySet[LedgerEntry]:
    """Ledger entries of these memberships (the caller passes only visible ones), newest
    first by when they count (``effective_at``: a purchase's date), not when recorded."""
    return (
        LedgerEntry.objects.filter(membership__in=memberships)
        .select_related("membership__program", "purchase", "hold")
        .order_by("-effective_at", "-id")
    )


def entries_campaign_bonuses(entries: Iterable[LedgerEntry]) -> dict[int, list[dict]]:
    """Per purchase among the earn entries: the campaigns that added a bonus, by name,
    with their points (one query for a page of history)."""
    purchase_ids = [e.purchase_id for e in entries if e.purchase_id and e.kind == EntryKind.EARN]
    bonuses: dict[int, list[dict]] = {}
    if not purchase_ids:
        return bonuses
    awards = (
        CampaignAward.objects.filter(purchase_id__in=purchase_ids)
        .order_by("purchase_id", "campaign_id")
        .values_list("purchase_id", "campaign__name", "points")
    )
    for purchase_id, name, points in awards:
        bonuses.setdefault(purchase_id, []).append({"campaign": name, "points": points})
    return bonuses


@dataclass(frozen=True)
class TierProgress:
    metric: str
    qualifying_value: Decimal
    window_start: datetime
    window_end: datetime
    next_tier: Tier | None
    gap: Decimal | None
    review_at: datetime | None


@dataclass(frozen=True)
class MembershipBalance:
    membership: Membership
    expiring: list[dict]
    expiring_within_days: int
    progress: TierProgress


def membership_balance(
    *, membership: Membership, expiring_within_days: int = 90, now=None
) -> MembershipBalance:
    """Balances, the available points that expire soon (per date), and tier progress."""
    now = now or timezone.now()
    expiring = list(
        PointLot.objects.filter(
            membership=membership,
            released_at__isnull=False,
            expired_at__isnull=True,
            remaining__gt=0,
            expires_at__isnull=False,
            expires_at__lte=now + timedelta(days=expiring_within_days),
        )
        .values("expires_at")
        .annotate(points=Sum("remaining"))
        .order_by("expires_at")
    )
    figures = qualification(membership, now)
    tiers = qualified_tiers(membership.program)
    reached = [t for t in (membership.qualified_tier, membership.tier) if t is not None]
    reached = [t for t in reached if t.kind == TierKind.QUALIFIED]
    upcoming = next_tier(tiers, max(reached, key=lambda t: t.rank) if reached else None)
    gap = max(Decimal(0), upcoming.threshold - figures.value) if upcoming else None
    progress = TierProgress(
        metric=membership.program.tier_metric,
        qualifying_value=figures.value,
        window_start=figures.window_start,
        window_end=figures.window_end,
        next_tier=upcoming,
        gap=gap,
        review_at=membership.tier_review_at,
    )
    return MembershipBalance(membership, expiring, expiring_within_days, progress)


@dataclass(frozen=True)
class CatalogueItem:
    reward: Reward
    affordable: bool
    tier_locked: bool
    in_stock: bool
    limit_reached: bool
    unavailable_reason: str | None

    @property
    def redeemable(self) -> bool:
        return self.unavailable_reason is None


def reward_catalogue(*, membership: Membership, now=None) -> list[CatalogueItem]:
    """The program's current rewards, each flagged as this member may see it."""
    now = now or timezone.now()
    rewards = (
        Reward.objects.filter(program=membership.program, is_active=True)
        .filter(Q(active_from__isnull=True) | Q(active_from__lte=now))
        .filter(Q(active_until__isnull=True) | Q(active_until__gt=now))
        .select_related("min_tier", "program")
        .annotate(
            used=Count(
                "redemptions",
                filter=Q(redemptions__membership=membership)
                & ~Q(redemptions__status=RedemptionStatus.CANCELLED),
            )
        )
        .order_by("points_cost", "id")
    )
    rank = membership.tier.rank if membership.tier else -1
    items = []
    for reward in rewards:
        affordable = membership.debt == 0 and membership.balance >= reward.points_cost
        tier_locked = reward.min_tier is not None and rank < reward.min_tier.rank
        in_stock = reward.stock is None or reward.stock > 0
        limit_reached = reward.per_member_limit is not None and reward.used >= (
            reward.per_member_limit
        )
        reasons = [
            (membership.status != MembershipStatus.ACTIVE, "membership_inactive"),
            (tier_locked, "tier_too_low"),
            (not in_stock, "out_of_stock"),
            (limit_reached, "redemption_limit_reached"),
            (membership.debt > 0, "negative_balance"),
            (not affordable, "insufficient_points"),
        ]
        reason = next((code for blocked, code in reasons if blocked), None)
        items.append(
            CatalogueItem(reward, affordable, tier_locked, in_stock, limit_reached, reason)
        )
    return items


def membership_referrals(*, membership: Membership, partner: Partner) -> QuerySet[Referral]:
    """Referrals the member made; the friend's external id only if the partner linked them."""
    external_id = PartnerCustomer.objects.filter(
        partner=partner, customer=OuterRef("referee__customer")
    ).values("external_id")[:1]
    return (
        Referral.objects.filter(referrer=membership)
        .annotate(referee_external_id=Subquery(external_id))
        .order_by("-created_at", "-id")
    )
