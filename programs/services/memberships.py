"""Enrolling customers in programs; suspending, reactivating and closing memberships."""

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.models import Customer
from programs.errors import InvalidStatusChange, MembershipInactive
from programs.models import (
    Membership,
    MembershipStatus,
    MembershipStatusChange,
    Partner,
    PartnerCustomer,
    Program,
)
from programs.services.locking import lock_membership
from programs.services.tiers import membership_tier_start

# No 0/O, 1/I/L: codes are read aloud and typed from paper.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def referral_code_generate(length: int = 8) -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(length))


def membership_enroll(
    *, customer: Customer, program: Program, joined_at=None
) -> tuple[Membership, bool]:
    """Make the customer a member of the program (idempotent). Returns (membership, created)."""
    if not program.is_active:
        raise MembershipInactive("This program is not active; no one can join it.")
    existing = Membership.objects.filter(customer=customer, program=program).first()
    if existing:
        return existing, False
    for _attempt in range(5):
        try:
            with transaction.atomic():
                membership = Membership.objects.create(
                    customer=customer,
                    program=program,
                    joined_at=joined_at or timezone.now(),
                    referral_code=referral_code_generate(),
                    status=MembershipStatus.ACTIVE,
                )
                membership_tier_start(membership, timezone.now())
                return membership, True
        except IntegrityError:
            existing = Membership.objects.filter(customer=customer, program=program).first()
            if existing:  # a concurrent enrollment won
                return existing, False
            # else: referral code collision; try another code
    raise RuntimeError("could not generate a unique referral code")


def partner_customer_link(*, partner: Partner, customer: Customer, external_id: str):
    """Record the partner's own id for the customer (what scopes the partner's view)."""
    link, _ = PartnerCustomer.objects.get_or_create(
        partner=partner, customer=customer, defaults={"external_id": external_id}
    )
    return link


# Which statuses each change may start from. A closed membership stays closed.
_STATUS_FROM = {
    MembershipStatus.SUSPENDED: {MembershipStatus.ACTIVE},
    MembershipStatus.ACTIVE: {MembershipStatus.SUSPENDED},
    MembershipStatus.CLOSED: {MembershipStatus.ACTIVE, MembershipStatus.SUSPENDED},
}


@transaction.atomic
def _status_change(
    membership: Membership, *, to: MembershipStatus, reason: str, user
) -> MembershipStatusChange:
    if not reason.strip():
        raise InvalidStatusChange(
            "Give a reason for the status change; it is kept in the audit log.", field="reason"
        )
    locked = lock_membership(membership.pk)
    if locked.status not in _STATUS_FROM[to]:
        raise InvalidStatusChange(
            f"A membership that is {locked.get_status_display()} cannot be changed to "
            f"{MembershipStatus(to).label}.",
            status=locked.status,
        )
    change = MembershipStatusChange.objects.create(
        membership=locked,
        from_status=locked.status,
        to_status=to,
        reason=reason.strip(),
        changed_by=user,
    )
    locked.status = to
    locked.save(update_fields=["status", "updated_at"])
    membership.status = to
    return change


def membership_suspend(*, membership: Membership, reason: str, user) -> MembershipStatusChange:
    """Staff put an active membership on hold: it earns nothing and redeems nothing (its
    purchases are rejected) until reactivated; its points and tier stay as they are."""
    return _status_change(membership, to=MembershipStatus.SUSPENDED, reason=reason, user=user)


def membership_reactivate(*, membership: Membership, reason: str, user) -> MembershipStatusChange:
    """Staff lift a suspension."""
    return _status_change(membership, to=MembershipStatus.ACTIVE, reason=reason, user=user)


def membership_close(*, membership: Membership, reason: str, user) -> MembershipStatusChange:
    """Staff close a membership for good (e.g. the customer left): it can no longer earn or
    redeem, and cannot be reactivated. The ledger is kept as it is."""
    return _status_change(membership, to=MembershipStatus.CLOSED, reason=reason, user=user)
