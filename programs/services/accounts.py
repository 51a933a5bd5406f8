"""Shared accounts: create, invite, join, leave, change roles, close; and the rules a
pooled balance is spent by (``programs.models.accounts`` for the model).

Rules, as docs/accounts.md states them for staff and members:

* A membership belongs to one account at a time, in the account's program.
* Pooling (``Program.accounts_pool``): while a member belongs to the account, the
  purchases recorded for them go to the account's holder with the member as
  ``placed_by`` (``purchase_membership``): they earn into the account's balance and count
  toward its tier. The points the member had before joining stay on their own
  membership; they can give them to the account (``programs.services.transfers``).
* Leaving takes the member's future purchases out of the pool; what they earned into
  the account stays with the account.
* Spending the account's balance: owners, buyers, heads and household members may;
  viewers may not; a member's monthly limit, when set, counts the points they redeemed
  from the account in the calendar month (``pool_spend_check``, under the holder's lock).
* Closing settles the balance: the available points go to the managing member's own
  membership as a transfer (their lots keep their expiry); an account with points held
  by a partner, pending points or a debt closes only once those are settled.
"""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.services import customer_create_shared
from programs.errors import (
    AccountClosed,
    AccountMembershipConflict,
    AccountNotSettled,
    AccountRoleRefused,
    MembershipInactive,
    ProgramMismatch,
)
from programs.models import (
    MANAGING,
    ROLES,
    Account,
    AccountInvitation,
    AccountKind,
    AccountMember,
    AccountRole,
    AccountStatus,
    InvitationStatus,
    Membership,
    MembershipStatus,
    MembershipStatusChange,
    Partner,
    PartnerCustomer,
    Program,
    WebhookEventType,
)
from programs.services.account_tiers import member_account_tier_set
from programs.services.events import events_are_muted
from programs.services.ledger import membership_expire_overdue
from programs.services.locking import lock_membership, lock_memberships
from programs.services.memberships import membership_enroll
from programs.services.postings import Actor
from programs.services.transfers import transfer_settle
from programs.services.webhook_events import partner_event_emit


def role_check(account: Account, role: str) -> None:
    if role not in ROLES[account.kind]:
        allowed = ", ".join(str(AccountRole(r).label) for r in ROLES[account.kind])
        raise AccountRoleRefused(
            _("A %(kind)s account has the roles %(allowed)s.")
            % {"kind": account.get_kind_display(), "allowed": allowed},
            field="role",
        )


def _emit(account: Account, type: str, data: dict, membership: Membership | None = None) -> None:
    """An account's webhook: to the partner that created it, and through the member's
    events to the partners that know the member."""
    if events_are_muted():
        return
    payload = {"account_id": account.pk, "external_id": account.external_id or None, **data}
    # Each partner learns the member by its own external id (null: not its member).
    links = {}
    if membership is not None:
        links = dict(membership.customer.partner_links.values_list("partner_id", "external_id"))

    def for_partner(partner_id: int) -> dict:
        # the account's external id is the creating partner's own, shown to it only
        own = partner_id == account.created_by_partner_id
        data = {**payload, "external_id": payload["external_id"] if own else None}
        return data if membership is None else {**data, "member": links.get(partner_id)}

    if account.created_by_partner_id:
        partner_event_emit(
            partner=account.created_by_partner,
            type=type,
            data=for_partner(account.created_by_partner_id),
        )
    linked = set(links) - {account.created_by_partner_id}
    for partner in Partner.objects.filter(pk__in=linked, is_active=True):
        partner_event_emit(partner=partner, type=type, data=for_partner(partner.pk))


@transaction.atomic
def account_create(
    *,
    program: Program,
    kind: str,
    name: str,
    manager: Membership | None = None,
    partner: Partner | None = None,
    external_id: str = "",
    vat_id: str = "",
    street: str = "",
    postal_code: str = "",
    city: str = "",
    country: str = "DE",
    requires_po_reference: bool = False,
    now: datetime | None = None,
) -> Account:
    """A new account with its holder membership; ``manager`` (optional) joins as owner
    or head at once."""
    now = now or timezone.now()
    if kind not in AccountKind.values:
        raise AccountRoleRefused(_("Unknown kind of account."), field="kind")
    if partner is not None and not partner.programs.filter(pk=program.pk).exists():
        raise ProgramMismatch()
    holder_customer = customer_create_shared(name=name)
    holder, _created = membership_enroll(customer=holder_customer, program=program, joined_at=now)
    try:
        with transaction.atomic():
            account = Account.objects.create(
                program=program,
                kind=kind,
                name=name.strip(),
                holder=holder,
                created_by_partner=partner,
                external_id=external_id,
                vat_id=vat_id if kind == AccountKind.BUSINESS else "",
                street=street,
                postal_code=postal_code,
                city=city,
                country=country,
                requires_po_reference=requires_po_reference and kind == AccountKind.BUSINESS,
            )
            if partner is not None and external_id:
                # The partner knows the account by its id as it knows a member: balance
                # reads, holds at the till, imports and the account's own webhooks
                # (points earned into it) work on it as on a member.
                PartnerCustomer.objects.create(
                    partner=partner, customer=holder_customer, external_id=external_id
                )
    except IntegrityError:
        raise AccountMembershipConflict(
            _(
                "The id %(id)s already names one of your accounts or members; accounts and "
                "members share your ids."
            )
            % {"id": external_id},
            field="external_id",
        ) from None
    _emit(account, WebhookEventType.ACCOUNT_CREATED, {"kind": kind, "name": account.name})
    if manager is not None:
        account_member_add(account=account, membership=manager, role=ROLES[kind][0], now=now)
    return account


@transaction.atomic
def account_member_add(
    *,
    account: Account,
    membership: Membership,
    role: str,
    monthly_limit: int | None = None,
    now: datetime | None = None,
) -> AccountMember:
    """Make ``membership`` a member of ``account`` (staff, a partner, or an accepted
    invitation). In a pooling program its future purchases earn into the account."""
    now = now or timezone.now()
    account = Account.objects.select_for_update().select_related("program").get(pk=account.pk)
    if account.status != AccountStatus.ACTIVE:
        raise AccountClosed()
    role_check(account, role)
    if membership.program_id != account.program_id:
        raise ProgramMismatch(_("The member collects in another program than the account."))
    if membership.status != MembershipStatus.ACTIVE:
        raise MembershipInactive()
    if membership.pk == account.holder_id or hasattr(membership, "account_held"):
        raise AccountMembershipConflict(_("An account cannot join an account."))
    locked = lock_membership(membership.pk)
    try:
        with transaction.atomic():
            member = AccountMember.objects.create(
                account=account,
                membership=locked,
                role=role,
                monthly_limit=monthly_limit,
                joined_at=now,
            )
    except IntegrityError:
        raise AccountMembershipConflict() from None
    if account.program.accounts_pool:
        Membership.objects.filter(pk=locked.pk).update(pool=account.holder_id)
        # the caller's instance too: a purchase recorded with it next must not miss the pool
        membership.pool_id = locked.pool_id = account.holder_id
    holder_tier = Membership.objects.filter(pk=account.holder_id).values_list("tier", flat=True)
    member_account_tier_set(locked, holder_tier.first(), now)
    _emit(
        account,
        WebhookEventType.ACCOUNT_MEMBER_JOINED,
        {"role": role, "card_number": locked.card_number},
        membership=locked,
    )
    return member


def _managers_left(account: Account, without: AccountMember) -> int:
    return (
        account.members.filter(left_at__isnull=True, role__in=MANAGING)
        .exclude(pk=without.pk)
        .count()
    )


@transaction.atomic
def account_member_leave(*, member: AccountMember, now: datetime | None = None) -> AccountMember:
    """The member leaves: their future purchases earn on their own membership again;
    what they earned into the account stays there. The last managing member cannot
    leave while others remain (hand the role over, or close the account)."""
    now = now or timezone.now()
    member = AccountMember.objects.select_for_update().select_related("account").get(pk=member.pk)
    account = Account.objects.select_for_update().get(pk=member.account_id)
    if member.left_at is not None:
        return member
    others = account.members.filter(left_at__isnull=True).exclude(pk=member.pk).exists()
    if member.role in MANAGING and others and not _managers_left(account, member):
        raise AccountRoleRefused(
            _("You manage this account: give another member your role before you leave.")
        )
    member.left_at = now
    member.save(update_fields=["left_at"])
    Membership.objects.filter(pk=member.membership_id, pool=account.holder_id).update(pool=None)
    member_account_tier_set(lock_membership(member.membership_id), None, now)
    _emit(
        account,
        WebhookEventType.ACCOUNT_MEMBER_LEFT,
        {"card_number": member.membership.card_number},
        membership=member.membership,
    )
    return member


@transaction.atomic
def account_member_update(
    *, member: AccountMember, role: str | None = None, monthly_limit: int | None = ...
) -> AccountMember:
    """Change a member's role or monthly limit (``None``: no limit). An account keeps at
    least one managing member."""
    member = AccountMember.objects.select_for_update().select_related("account").get(pk=member.pk)
    account = Account.objects.select_for_update().get(pk=member.account_id)
    if member.left_at is not None:
        raise AccountMembershipConflict(_("This member has left the account."))
    fields = []
    if role is not None and role != member.role:
        role_check(account, role)
        if member.role in MANAGING and role not in MANAGING and not _managers_left(account, member):
            raise AccountRoleRefused(_("An account needs someone who manages it."), field="role")
        member.role = role
        fields.append("role")
    if monthly_limit is not ...:
        member.monthly_limit = monthly_limit
        fields.append("monthly_limit")
    if fields:
        member.save(update_fields=fields)
    return member


# --- closing ---------------------------------------------------------------------------


@transaction.atomic
def account_close(*, account: Account, actor: Actor, note: str = "") -> Account:
    """Close the account and settle its balance: the available points go to the managing
    member's own membership (a transfer; the lots keep their expiry). Refused while a
    partner holds points, points are pending or a debt is open. Every member leaves."""
    account = Account.objects.select_for_update().select_related("program").get(pk=account.pk)
    if account.status == AccountStatus.CLOSED:
        return account
    members = list(account.members.filter(left_at__isnull=True).select_related("membership"))
    # the holder and the members in one order, as every writer locks them
    locked = lock_memberships([account.holder_id, *(m.membership_id for m in members)])
    holder = locked[account.holder_id]
    membership_expire_overdue(holder)  # lapsed points are not settled to anyone
    if holder.held or holder.pending or holder.debt:
        raise AccountNotSettled(
            _(
                "The account has %(held)s points held by a partner, %(pending)s pending "
                "and a debt of %(debt)s; close it once these are settled."
            )
            % {"held": holder.held, "pending": holder.pending, "debt": holder.debt}
        )
    manager = next(
        (
            m
            for m in members
            if m.role in MANAGING and m.membership.status == MembershipStatus.ACTIVE
        ),
        None,
    )
    now = timezone.now()
    settled = ""
    if holder.balance and manager is not None:
        settled = f"{holder.balance} points to membership {manager.membership_id}"
        transfer_settle(
            holder=holder,
            recipient=manager.membership,
            actor=actor,
            key=f"account:{account.pk}:close",
        )
    elif holder.balance:
        raise AccountNotSettled(_("No managing member is left to receive the account's points."))
    for member in members:
        member.left_at = now
        member.save(update_fields=["left_at"])
        member_account_tier_set(locked[member.membership_id], None, now)
    Membership.objects.filter(pool=account.holder_id).update(pool=None)
    AccountInvitation.objects.filter(account=account, status=InvitationStatus.OPEN).update(
        status=InvitationStatus.REVOKED, answered_at=now
    )
    account.status = AccountStatus.CLOSED
    account.closed_at = now
    account.closing_note = (note or settled)[:255]
    account.save(update_fields=["status", "closed_at", "closing_note"])
    Membership.objects.filter(pk=holder.pk).update(status=MembershipStatus.CLOSED)
    MembershipStatusChange.objects.create(
        membership=holder,
        from_status=holder.status,
        to_status=MembershipStatus.CLOSED,
        reason=f"Shared account {account.pk} closed. {account.closing_note}".strip(),
        changed_by=actor.user,
    )
    _emit(account, WebhookEventType.ACCOUNT_CLOSED, {"settled": settled})
    return account
