"""Enrolling customers in programs."""

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.models import Customer
from programs.errors import MembershipInactive
from programs.models import Membership, MembershipStatus, Partner, PartnerCustomer, Program
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
