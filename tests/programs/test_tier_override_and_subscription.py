"""Staff tier overrides (reason, expiry, audit) and subscription (VIP) tiers bought for a
period, renewed from the end of the paid period, lapsing at its end."""

from datetime import timedelta
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from django.utils import timezone

from programs.errors import InvalidTierChange, MembershipInactive, ProgramMismatch
from programs.models import (
    LedgerEntry,
    MembershipStatus,
    Purchase,
    PurchaseStatus,
    SubscriptionPeriod,
    Tier,
    TierChange,
    TierChangeReason,
    TierKind,
)
from programs.services.due import tiers_review_due
from programs.services.ledger import Actor
from programs.services.purchase_refunds import purchase_refund
from programs.services.subscriptions import tier_subscription_buy
from programs.services.tiers import membership_tier_override
from tests.factories import PartnerFactory, ProgramFactory, StaffFactory, standard_tiers


def latest_change(membership):
    return TierChange.objects.filter(membership=membership).first()  # newest first


@pytest.fixture
def staff(db):
    return StaffFactory(username="petra")


def test_override_sets_the_tier_with_reason_and_reverts_after_expiry(membership, tiers, staff, buy):
    until = timezone.now() + timedelta(days=30)
    membership_tier_override(
        membership, tier=tiers["Platin"], until=until, reason="Beschwerde kulant gelöst", user=staff
    )
    membership.refresh_from_db()
    assert membership.tier == tiers["Platin"]
    assert membership.qualified_tier == tiers["Bronze"]
    change = latest_change(membership)
    assert change.reason == TierChangeReason.OVERRIDE
    assert (change.from_tier, change.to_tier) == (tiers["Bronze"], tiers["Platin"])
    assert change.changed_by == staff
    assert change.note == "Beschwerde kulant gelöst"
    assert buy(membership, "10.00").points_awarded == 20  # Platin earns x2

    assert tiers_review_due(now=until - timedelta(seconds=1)) == 0
    membership.refresh_from_db()
    assert membership.tier == tiers["Platin"]

    assert tiers_review_due(now=until) == 1
    membership.refresh_from_db()
    assert membership.tier == tiers["Bronze"]
    assert membership.override_tier is None
    change = latest_change(membership)
    assert change.reason == TierChangeReason.OVERRIDE_ENDED
    assert (change.from_tier, change.to_tier) == (tiers["Platin"], tiers["Bronze"])


def test_override_wins_over_a_higher_qualified_tier(membership, tiers, staff, buy):
    buy(membership, "1600.00")
    membership.refresh_from_db()
    assert membership.tier == tiers["Gold"]
    membership_tier_override(
        membership, tier=tiers["Silber"], until=None, reason="Missbrauch", user=staff
    )
    membership.refresh_from_db()
    assert membership.tier == tiers["Silber"]
    assert buy(membership, "100.00").points_awarded == 125  # Silber x1.25, not Gold's x1.5
    # clearing the override returns to the qualified tier
    membership_tier_override(membership, tier=None, until=None, reason="geklärt", user=staff)
    membership.refresh_from_db()
    assert membership.tier == tiers["Gold"]
    assert latest_change(membership).changed_by == staff


def test_override_to_the_same_tier_is_still_audited(membership, tiers, staff):
    before = TierChange.objects.filter(membership=membership).count()
    membership_tier_override(
        membership, tier=tiers["Bronze"], until=None, reason="bestätigt", user=staff
    )
    assert TierChange.objects.filter(membership=membership).count() == before + 1
    change = latest_change(membership)
    assert (change.reason, change.changed_by, change.note) == (
        TierChangeReason.OVERRIDE,
        staff,
        "bestätigt",
    )


@pytest.mark.parametrize("reason", ["", "   "])
def test_override_needs_a_reason(membership, tiers, staff, reason):
    with pytest.raises(InvalidTierChange):
        membership_tier_override(
            membership, tier=tiers["Gold"], until=None, reason=reason, user=staff
        )
    membership.refresh_from_db()
    assert membership.tier == tiers["Bronze"]
    assert membership.override_tier is None


def test_override_end_must_lie_ahead_and_tier_must_be_the_programs(membership, tiers, staff):
    with pytest.raises(InvalidTierChange):
        membership_tier_override(
            membership,
            tier=tiers["Gold"],
            until=timezone.now() - timedelta(days=1),
            reason="zu spät",
            user=staff,
        )
    foreign = standard_tiers(ProgramFactory())["Gold"]
    with pytest.raises(InvalidTierChange):
        membership_tier_override(membership, tier=foreign, until=None, reason="x", user=staff)
    membership.refresh_from_db()
    assert membership.tier == tiers["Bronze"]


@pytest.fixture
def vip(program, tiers):
    return Tier.objects.create(
        program=program,
        name="VIP",
        rank=10,
        kind=TierKind.SUBSCRIPTION,
        subscription_price=Decimal("600.00"),
        subscription_period=SubscriptionPeriod.MONTH,
        earn_multiplier=Decimal(3),
    )


def test_subscription_buys_the_tier_for_a_period(membership, partner, vip, tiers, buy):
    before = timezone.now()
    subscription = tier_subscription_buy(
        membership=membership, tier=vip, partner=partner, order_id="VIP-1"
    )
    membership.refresh_from_db()
    assert membership.tier == vip
    assert subscription.ends_at == subscription.starts_at + relativedelta(months=1)
    assert subscription.starts_at >= before
    assert membership.subscription_until == subscription.ends_at
    change = latest_change(membership)
    assert change.reason == TierChangeReason.SUBSCRIPTION
    assert (change.from_tier, change.to_tier) == (tiers["Bronze"], vip)

    fee = subscription.purchase
    assert (fee.amount, fee.status, fee.points_awarded) == (
        Decimal("600.00"),
        PurchaseStatus.AWARDED,
        0,
    )
    assert not LedgerEntry.objects.filter(membership=membership).exists()  # fees earn nothing
    # the 600.00 fee is not qualifying spend: 10 more does not reach Silber (500)
    assert buy(membership, "10.00").points_awarded == 30  # VIP earns x3
    membership.refresh_from_db()
    assert membership.qualified_tier == tiers["Bronze"]


def test_renewal_extends_from_the_end_of_the_paid_period(membership, partner, vip):
    first = tier_subscription_buy(membership=membership, tier=vip, partner=partner, order_id="V-1")
    second = tier_subscription_buy(membership=membership, tier=vip, partner=partner, order_id="V-2")
    assert second.starts_at == first.ends_at
    assert second.ends_at == first.ends_at + relativedelta(months=1)
    membership.refresh_from_db()
    assert membership.subscription_until == second.ends_at
    # the same order again changes nothing
    again = tier_subscription_buy(membership=membership, tier=vip, partner=partner, order_id="V-2")
    assert again.pk == second.pk
    membership.refresh_from_db()
    assert membership.subscription_until == second.ends_at
    assert membership.subscriptions.count() == 2


def test_subscription_lapses_at_the_end_of_the_paid_period(membership, partner, vip, tiers):
    subscription = tier_subscription_buy(
        membership=membership, tier=vip, partner=partner, order_id="V-1"
    )
    tiers_review_due(now=subscription.ends_at - timedelta(seconds=1))
    membership.refresh_from_db()
    assert membership.tier == vip

    assert tiers_review_due(now=subscription.ends_at) == 1
    membership.refresh_from_db()
    assert membership.tier == tiers["Bronze"]
    assert membership.subscription_tier is None
    change = latest_change(membership)
    assert change.reason == TierChangeReason.SUBSCRIPTION_LAPSED
    assert (change.from_tier, change.to_tier) == (vip, tiers["Bronze"])


def test_lapsed_subscription_falls_back_to_a_higher_qualified_tier(
    membership, partner, vip, tiers, buy
):
    buy(membership, "1500.00")
    subscription = tier_subscription_buy(
        membership=membership, tier=vip, partner=partner, order_id="V-1"
    )
    membership.refresh_from_db()
    assert membership.tier == vip
    tiers_review_due(now=subscription.ends_at + timedelta(hours=1))
    membership.refresh_from_db()
    assert membership.tier == tiers["Gold"]


def test_a_qualified_tier_cannot_be_bought(membership, partner, tiers):
    with pytest.raises(InvalidTierChange):
        tier_subscription_buy(
            membership=membership, tier=tiers["Gold"], partner=partner, order_id="X"
        )


def test_subscription_is_refused_for_an_inactive_membership(membership, partner, vip, tiers):
    membership.status = MembershipStatus.SUSPENDED
    membership.save(update_fields=["status"])
    with pytest.raises(MembershipInactive):
        tier_subscription_buy(membership=membership, tier=vip, partner=partner, order_id="V-1")
    membership.refresh_from_db()
    assert membership.tier == tiers["Bronze"]
    assert not Purchase.objects.exists()


def test_subscription_is_refused_from_a_partner_outside_the_program(membership, vip, tiers):
    with pytest.raises(ProgramMismatch):
        tier_subscription_buy(
            membership=membership, tier=vip, partner=PartnerFactory(), order_id="V-1"
        )
    membership.refresh_from_db()
    assert membership.tier == tiers["Bronze"]
    assert not Purchase.objects.exists()


def test_refunded_fee_takes_back_the_period_it_paid_for(membership, partner, vip, tiers):
    first = tier_subscription_buy(membership=membership, tier=vip, partner=partner, order_id="V-1")
    second = tier_subscription_buy(membership=membership, tier=vip, partner=partner, order_id="V-2")
    system = Actor.system()
    purchase_refund(
        purchase=second.purchase, refund_id="R-1", amount=Decimal("100.00"), actor=system
    )
    membership.refresh_from_db()
    assert membership.subscription_until == second.ends_at  # a partial refund: goodwill
    purchase_refund(
        purchase=second.purchase, refund_id="R-2", amount=Decimal("500.00"), actor=system
    )
    membership.refresh_from_db()
    assert membership.subscription_until == first.ends_at  # one paid month left
    assert membership.tier == vip
    purchase_refund(
        purchase=first.purchase, refund_id="R-1", amount=Decimal("600.00"), actor=system
    )
    membership.refresh_from_db()
    assert (membership.subscription_tier, membership.subscription_until) == (None, None)
    assert membership.tier == tiers["Bronze"]
    change = latest_change(membership)
    assert change.reason == TierChangeReason.SUBSCRIPTION_LAPSED
    assert (change.from_tier, change.to_tier) == (vip, tiers["Bronze"])
