"""How a shared account's balance is earned into and spent: a pooled member's purchase is
recorded on the account's holder (``purchase_membership``); redeeming from the balance
follows the member's role and monthly limit (``pool_spend_check``, under the holder's
lock). Read by the purchase and reward services, so it imports none of them."""

from datetime import datetime

from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from programs.errors import (
    AccountClosed,
    AccountRedemptionLimit,
    AccountRoleRefused,
    PurchaseOrderMissing,
)
from programs.models import (
    REDEEMING,
    Account,
    AccountMember,
    AccountStatus,
    Membership,
    Redemption,
    RedemptionStatus,
)


def purchase_membership(membership: Membership) -> tuple[Membership, Membership | None]:
    """Where a purchase for ``membership`` is recorded: the account's holder while the
    member pools (with the member as ``placed_by``), else the membership itself. No
    query unless the member pools."""
    if membership.pool_id is None:
        return membership, None
    holder = Membership.objects.select_related("program", "tier").get(pk=membership.pool_id)
    return holder, membership


def account_purchase_check(holder: Membership, po_reference: str) -> None:
    """A purchase on a shared account's holder: the account is open, and a business that
    asks for purchase order numbers gets one."""
    row = Account.objects.filter(holder=holder).values("status", "requires_po_reference").first()
    if row is None:
        return
    if row["status"] != AccountStatus.ACTIVE:
        raise AccountClosed()
    if row["requires_po_reference"] and not po_reference.strip():
        raise PurchaseOrderMissing(field="po_reference")


def member_of(membership: Membership) -> AccountMember | None:
    """The membership's current place in an account, if any."""
    return (
        AccountMember.objects.select_related("account__holder")
        .filter(membership=membership, left_at__isnull=True)
        .first()
    )


def month_start(at: datetime) -> datetime:
    local = timezone.localtime(at)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def redeemed_this_month(holder: Membership, by: Membership, at: datetime) -> int:
    return (
        Redemption.objects.filter(membership=holder, placed_by=by, created_at__gte=month_start(at))
        .exclude(status=RedemptionStatus.CANCELLED)
        .aggregate(total=Sum("points"))["total"]
        or 0
    )


def pool_spend_check(holder: Membership, by: Membership, points: int, at: datetime | None = None):
    """May ``by`` spend ``points`` of the account ``holder``'s balance? Call with the
    holder locked, so two redemptions cannot both pass a monthly limit."""
    at = at or timezone.now()
    member = (
        AccountMember.objects.select_related("account")
        .filter(membership=by, account__holder=holder, left_at__isnull=True)
        .first()
    )
    if member is None:
        raise AccountRoleRefused(_("You are not a member of this account."))
    if member.account.status != AccountStatus.ACTIVE:
        raise AccountClosed()
    if member.role not in REDEEMING:
        raise AccountRoleRefused(
            _("As a viewer you can see the account's points but not redeem them.")
        )
    if member.monthly_limit is not None:
        used = redeemed_this_month(holder, by, at)
        if used + points > member.monthly_limit:
            raise AccountRedemptionLimit(
                _(
                    "You may redeem %(limit)s points a month from the account; %(used)s are "
                    "used this month, so %(left)s are left."
                )
                % {
                    "limit": member.monthly_limit,
                    "used": used,
                    "left": max(member.monthly_limit - used, 0),
                },
                limit=member.monthly_limit,
                used=used,
            )
    return member
