"""Redeeming rewards and cancelling unused redemptions. A redemption's voucher is valid
until ``expires_at`` (the reward's ``voucher_valid_days``; see ``programs.vouchers``);
using it: ``services.vouchers``."""

import secrets
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from programs.errors import (
    InsufficientPoints,
    MembershipInactive,
    NegativeBalance,
    OutOfStock,
    RedemptionLimitReached,
    RedemptionNotCancellable,
    RewardUnavailable,
    TierTooLow,
)
from programs.models import (
    EntryKind,
    EntrySource,
    Membership,
    MembershipStatus,
    Redemption,
    RedemptionStatus,
    Reward,
)
from programs.services import events
from programs.services.account_spending import pool_spend_check
from programs.services.events import event_record
from programs.services.ledger import (
    Actor,
    membership_expire_overdue,
    points_restore,
    points_spend,
)
from programs.services.locking import lock_membership
from programs.services.returns import returned_points_reclaim
from programs.services.tiers import membership_tier_after_return
from programs.services.vouchers import redemption_use
from programs.vouchers import voucher_expiry, voucher_is_expired

_VOUCHER_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def voucher_code_generate() -> str:
    raw = "".join(secrets.choice(_VOUCHER_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def reward_check(membership: Membership, reward: Reward, now=None) -> None:
    """Raise the reason this member cannot redeem this reward now, if there is one."""
    now = now or timezone.now()
    if membership.status != MembershipStatus.ACTIVE:
        raise MembershipInactive()
    if reward.program_id != membership.program_id or not reward.is_active:
        raise RewardUnavailable()
    if (reward.active_from and reward.active_from > now) or (
        reward.active_until and reward.active_until <= now
    ):
        raise RewardUnavailable(_("This reward is not available at this time."))
    if reward.min_tier_id and (
        membership.tier is None or membership.tier.rank < reward.min_tier.rank
    ):
        raise TierTooLow(
            format_lazy(
                _("This reward needs the tier {tier} or higher."), tier=reward.min_tier.name
            )
        )
    if reward.stock is not None and reward.stock <= 0:
        raise OutOfStock()
    if membership.debt:
        raise NegativeBalance()
    if membership.balance < reward.points_cost:
        raise InsufficientPoints(
            format_lazy(
                _("This reward costs {cost} points; {available} are available."),
                cost=reward.points_cost,
                available=membership.balance,
            ),
            needed=reward.points_cost,
            available=membership.balance,
        )


@transaction.atomic
def reward_redeem(
    *,
    membership: Membership,
    reward: Reward,
    actor: Actor,
    at: datetime | None = None,
    by: Membership | None = None,
) -> Redemption:
    """Spend the reward's points, take one from stock, issue a voucher code. ``at``: when
    the member redeemed (default now; a history being loaded, as the demo's, dates it).
    ``by``: the member who redeems from a shared account's balance (``membership`` is
    then the account's holder); their role and monthly limit decide
    (``accounts.pool_spend_check``, under the holder's lock)."""
    membership = lock_membership(membership.pk)
    if by is not None:
        pool_spend_check(membership, by, reward.points_cost, at)
    reward = (
        Reward.objects.select_for_update(of=("self",)).select_related("min_tier").get(pk=reward.pk)
    )
    membership_expire_overdue(membership, at)
    reward_check(membership, reward, at)
    if reward.per_member_limit is not None:
        used = reward.redemptions.filter(membership=membership).exclude(
            status=RedemptionStatus.CANCELLED
        )
        if used.count() >= reward.per_member_limit:
            raise RedemptionLimitReached()
    if reward.stock is not None:
        Reward.objects.filter(pk=reward.pk).update(stock=F("stock") - 1)
    redeemed_at = at or timezone.now()
    redemption = Redemption.objects.create(
        membership=membership,
        placed_by=by,
        reward=reward,
        points=reward.points_cost,
        voucher_code=voucher_code_generate(),
        created_at=redeemed_at,
        expires_at=voucher_expiry(reward.voucher_valid_days, redeemed_at),
    )
    points_spend(
        membership,
        points=reward.points_cost,
        kind=EntryKind.REDEEM,
        source=EntrySource.REDEMPTION,
        idempotency_key=f"redemption:{redemption.pk}:redeem",
        actor=actor,
        reason=reward.name,
        effective_at=at,
        redemption=redemption,
    )
    membership.last_activity_at = (
        max(filter(None, (membership.last_activity_at, at))) if at else timezone.now()
    )
    membership.save(update_fields=["last_activity_at", "updated_at"])
    event_record(
        type=events.REWARD_REDEEMED,
        membership=membership,
        data={
            "redemption_id": redemption.pk,
            "reward_id": reward.pk,
            "reward": reward.name,
            "points": redemption.points,
            "voucher_code": redemption.voucher_code,
            "expires_at": redemption.expires_at,
        },
    )
    return redemption


@transaction.atomic
def redemption_cancel(
    *, redemption: Redemption, actor: Actor, at: datetime | None = None
) -> Redemption:
    """Give an unused redemption's points back to the lots they came from; restock. Points
    that return to the lot of a purchase returned since are taken back at once. An expired
    voucher is not cancelled: its points do not come back (``programs.vouchers``)."""
    membership = lock_membership(redemption.membership_id)
    redemption = Redemption.objects.select_for_update().get(pk=redemption.pk)
    if redemption.status != RedemptionStatus.ISSUED:
        raise RedemptionNotCancellable()
    if voucher_is_expired(redemption, at):
        raise RedemptionNotCancellable(
            _(
                "This voucher has expired: it can no longer be cancelled, and its points "
                "do not come back."
            )
        )
    spent = redemption.entries.get(kind=EntryKind.REDEEM)
    points_restore(
        membership,
        spent_entry=spent,
        kind=EntryKind.REDEEM_CANCEL,
        source=EntrySource.REDEMPTION,
        idempotency_key=f"redemption:{redemption.pk}:cancel",
        actor=actor,
        reason=redemption.reward.name,
        effective_at=at,
        redemption=redemption,
    )
    # Points of a purchase returned meanwhile, which the return could not take because this
    # redemption had spent them, go now instead of coming back to life.
    if returned_points_reclaim(
        membership,
        spent_entry=spent,
        idempotency_key=f"redemption:{redemption.pk}:cancel:reverse",
        actor=actor,
    ):
        membership_tier_after_return(membership, timezone.now())
    Reward.objects.filter(pk=redemption.reward_id, stock__isnull=False).update(stock=F("stock") + 1)
    redemption.status = RedemptionStatus.CANCELLED
    redemption.cancelled_at = at or timezone.now()
    redemption.save(update_fields=["status", "cancelled_at"])
    return redemption


def redemption_mark_used(*, redemption: Redemption, at: datetime | None = None) -> Redemption:
    """Staff (the admin) or a history being loaded mark a voucher used: the tills' path
    (``services.vouchers.redemption_use``) without a partner."""
    return redemption_use(redemption=redemption, partner=None, at=at)
