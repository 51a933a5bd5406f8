"""Subscription (VIP) tiers: a fee buys a tier for a month or a year."""

from dateutil.relativedelta import relativedelta
from django.db import transaction
from django.utils import timezone

from programs.errors import InvalidTierChange, MembershipInactive, ProgramMismatch
from programs.models import (
    Membership,
    MembershipStatus,
    Partner,
    Purchase,
    PurchaseStatus,
    SubscriptionPeriod,
    Tier,
    TierChangeReason,
    TierKind,
    TierSubscription,
)
from programs.services.locking import lock_membership
from programs.services.purchases import money_check
from programs.services.tiers import tier_refresh


@transaction.atomic
def tier_subscription_buy(
    *, membership: Membership, tier: Tier, partner: Partner, order_id: str
) -> TierSubscription:
    """Record the fee as a purchase (it earns no points and does not count as qualifying
    spend) and extend the subscription: a renewal starts where the paid period ends."""
    if tier.kind != TierKind.SUBSCRIPTION or tier.program_id != membership.program_id:
        raise InvalidTierChange("This tier cannot be bought in the member's program.")
    membership = lock_membership(membership.pk)
    now = timezone.now()
    money_check(tier.subscription_price, membership.program.currency)
    existing = TierSubscription.objects.filter(
        membership=membership, purchase__partner=partner, purchase__order_id=order_id
    ).first()
    if existing:
        return existing
    if membership.status != MembershipStatus.ACTIVE:
        raise MembershipInactive()
    if not partner.programs.filter(pk=membership.program_id).exists():
        raise ProgramMismatch()
    starts = now
    if (
        membership.subscription_tier_id == tier.pk
        and membership.subscription_until
        and membership.subscription_until > now
    ):
        starts = membership.subscription_until
    step = (
        relativedelta(years=1)
        if tier.subscription_period == SubscriptionPeriod.YEAR
        else relativedelta(months=1)
    )
    fee = Purchase.objects.create(
        program=membership.program,
        membership=membership,
        partner=partner,
        order_id=order_id,
        amount=tier.subscription_price,
        currency=membership.program.currency,
        occurred_at=now,
        status=PurchaseStatus.AWARDED,
        status_reason="subscription fee",
        points_awarded=0,
        processed_at=now,
    )
    subscription = TierSubscription.objects.create(
        membership=membership, tier=tier, purchase=fee, starts_at=starts, ends_at=starts + step
    )
    membership.subscription_tier = tier
    membership.subscription_until = subscription.ends_at
    tier_refresh(membership, reason=TierChangeReason.SUBSCRIPTION, now=now)
    return subscription
