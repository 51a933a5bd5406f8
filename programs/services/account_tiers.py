"""A shared account's tier, and what its members get of it.

The account's tier is its holder's: earned by the account's own purchases where the
program pools, by the members' combined figures where it does not
(``tier_figures.account_members_counted``). Every current member enjoys at least that
tier (``Membership.account_tier``, one part of ``tiers.effective_tier``); a member who
leaves keeps only their own. Refreshed when a member joins or leaves, after points are
earned by a member or the account (the tier progress task), and nightly (after the
period-end reviews).
"""

import logging
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from programs.models import (
    Account,
    AccountMember,
    AccountStatus,
    Membership,
    TierChangeReason,
)
from programs.services.locking import lock_memberships
from programs.services.tiers import membership_tier_upgrade, tier_refresh

logger = logging.getLogger(__name__)


def member_account_tier_set(membership: Membership, tier_id: int | None, now: datetime) -> bool:
    """Give the (locked) member the account's tier, or take it away (``None``); record
    the change of the effective tier if there is one. True if it changed."""
    if membership.account_tier_id == tier_id:
        return False
    membership.account_tier_id = tier_id
    return tier_refresh(membership, reason=TierChangeReason.ACCOUNT, now=now) is not None


@transaction.atomic
def account_tier_refresh(account_id: int, now: datetime | None = None) -> int:
    """Raise the account's tier if its figures now support a higher one (where the
    program does not pool: the members' combined figures), then hand its tier to every
    current member. Returns how many effective tiers changed."""
    now = now or timezone.now()
    account = Account.objects.select_related("program").get(pk=account_id)
    member_ids = list(
        AccountMember.objects.filter(account=account, left_at__isnull=True).values_list(
            "membership_id", flat=True
        )
    )
    locked = lock_memberships([account.holder_id, *member_ids])  # one order: no deadlock
    holder = locked[account.holder_id]
    changed = 0
    if not account.program.accounts_pool and membership_tier_upgrade(holder, now):
        changed += 1
    tier_id = holder.tier_id if account.status == AccountStatus.ACTIVE else None
    for member_id in member_ids:
        changed += member_account_tier_set(locked[member_id], tier_id, now)
    return changed


def accounts_of(membership_ids) -> list[int]:
    """The open accounts these memberships belong to or hold (one query)."""
    ids = list(membership_ids)
    return list(
        AccountMember.objects.filter(left_at__isnull=True, account__status=AccountStatus.ACTIVE)
        .filter(Q(membership__any=ids) | Q(account__holder__any=ids))
        .values_list("account_id", flat=True)
        .order_by()  # distinct accounts, not distinct (joined_at, id, account) of Meta.ordering
        .distinct()
    )


def account_tiers_after_earning(membership_ids) -> int:
    """After points were earned by these memberships: refresh their accounts' tiers."""
    return sum(account_tier_refresh(account_id) for account_id in accounts_of(membership_ids))


def account_tiers_refresh_all(now: datetime | None = None) -> int:
    """Nightly: every open account, one transaction each. A failing account does not
    stop the others: it is logged with its reason and tried again the next night."""
    changed = 0
    for pk in Account.objects.filter(status=AccountStatus.ACTIVE).values_list("pk", flat=True):
        try:
            changed += account_tier_refresh(pk, now)
        except Exception:
            logger.exception("account %s: tier not refreshed", pk)
    return changed
