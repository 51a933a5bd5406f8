"""Invitations to a shared account: sent by e-mail (``account_invitation_emails``), answered
in the portal by the person signed in with the invited address; an accepted invitation
makes them a member (``accounts.account_member_add``). Valid ``INVITATION_DAYS`` days."""

import hashlib
import secrets
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.emails import email_normalize
from customers.models import Customer
from loyalty_site.core.commit import enqueue_after_commit
from programs.errors import (
    AccountClosed,
    AccountMembershipConflict,
    InvitationClosed,
)
from programs.models import (
    Account,
    AccountInvitation,
    AccountMember,
    AccountStatus,
    InvitationStatus,
    Membership,
)
from programs.services.accounts import account_member_add, role_check
from programs.services.memberships import membership_enroll

INVITATION_DAYS = 14
INVITE_EMAIL_TASK = "programs.tasks.send_account_invitations_task"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def account_invite(
    *, account: Account, email: str, role: str, invited_by: Membership | None = None
) -> tuple[AccountInvitation, str]:
    """Invite ``email`` to the account; the e-mail goes out after the commit. Returns the
    invitation and its token (shown in the e-mail link only; kept hashed)."""
    if account.status != AccountStatus.ACTIVE:
        raise AccountClosed()
    role_check(account, role)
    email = email.strip()
    already = AccountMember.objects.filter(
        account=account,
        left_at__isnull=True,
        membership__customer__email_normalized=email_normalize(email),
    )
    if already.exists():
        raise AccountMembershipConflict(_("%(email)s is a member already.") % {"email": email})
    # An invitation that lapsed unanswered no longer blocks a new one to the address.
    AccountInvitation.objects.filter(
        account=account, email=email, status=InvitationStatus.OPEN, expires_at__lte=timezone.now()
    ).update(status=InvitationStatus.EXPIRED)
    token = secrets.token_urlsafe(24)
    try:
        with transaction.atomic():
            invitation = AccountInvitation.objects.create(
                account=account,
                email=email,
                role=role,
                token_hash=_token_hash(token),
                invited_by=invited_by,
                expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
                email_next_attempt_at=timezone.now(),
            )
    except IntegrityError:
        raise AccountMembershipConflict(
            _("%(email)s has an open invitation already.") % {"email": email}, field="email"
        ) from None
    # The e-mail links the portal's account page, where the invited person, signed in
    # with this address, confirms (``invitations_open_for``); the token (kept hashed) is
    # for a link that opens this one invitation.
    enqueue_after_commit(INVITE_EMAIL_TASK, [invitation.pk])
    return invitation, token


def invitation_by_token(token: str) -> AccountInvitation | None:
    return (
        AccountInvitation.objects.select_related("account__program", "invited_by__customer")
        .filter(token_hash=_token_hash(token))
        .first()
    )


def invitations_open_for(customer: Customer) -> list[AccountInvitation]:
    """Open invitations to the customer's e-mail address (shown in their portal)."""
    if not customer.email:
        return []
    return list(
        AccountInvitation.objects.select_related("account__program")
        .filter(
            status=InvitationStatus.OPEN,
            expires_at__gt=timezone.now(),
            email__iexact=customer.email,
        )
        .order_by("-created_at")
    )


def _invitation_lock(invitation: AccountInvitation, customer: Customer) -> AccountInvitation:
    invitation = AccountInvitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.status != InvitationStatus.OPEN:
        raise InvitationClosed()
    if invitation.expires_at <= timezone.now():
        invitation.status = InvitationStatus.EXPIRED
        invitation.save(update_fields=["status"])
        raise InvitationClosed(_("This invitation has expired; ask for a new one."))
    if email_normalize(invitation.email) != email_normalize(customer.email or ""):
        raise InvitationClosed(
            _("This invitation was sent to another e-mail address than your account's.")
        )
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: AccountInvitation, customer: Customer) -> AccountMember:
    """The invited customer confirms: they join (enrolled in the program first if need
    be)."""
    invitation = _invitation_lock(invitation, customer)
    account = invitation.account
    membership, _created = membership_enroll(customer=customer, program=account.program)
    member = account_member_add(account=account, membership=membership, role=invitation.role)
    invitation.status = InvitationStatus.ACCEPTED
    invitation.answered_at = timezone.now()
    invitation.member = member
    invitation.save(update_fields=["status", "answered_at", "member"])
    return member


@transaction.atomic
def invitation_decline(*, invitation: AccountInvitation, customer: Customer) -> None:
    invitation = _invitation_lock(invitation, customer)
    invitation.status = InvitationStatus.DECLINED
    invitation.answered_at = timezone.now()
    invitation.save(update_fields=["status", "answered_at"])


def invitation_revoke(*, invitation: AccountInvitation) -> None:
    AccountInvitation.objects.filter(pk=invitation.pk, status=InvitationStatus.OPEN).update(
        status=InvitationStatus.REVOKED, answered_at=timezone.now()
    )


def invitations_expire_lapsed(now: datetime | None = None) -> int:
    """Mark the open invitations whose time ran out as expired (the sweeper, every few
    minutes): an answer to a lapsed one is refused anyway, and this makes the admin and
    the open-invitation rule say so. Returns how many."""
    return AccountInvitation.objects.filter(
        status=InvitationStatus.OPEN, expires_at__lte=now or timezone.now()
    ).update(status=InvitationStatus.EXPIRED)
