"""A partner enrolls or updates a member by its own external id (the API's upsert).

The customer is the person, shared by every partner that links them; the link
(``PartnerCustomer``) is what lets a partner see them. An e-mail address that already
belongs to a customer links that customer (the same person enrolling through another
channel) instead of creating a second one.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from customers.services import customer_create, customer_update
from programs.errors import LoyaltyError, ProgramMismatch, ReferralNotAllowed
from programs.models import Membership, Partner, PartnerCustomer, Program, Referral
from programs.services.memberships import membership_enroll
from programs.services.referrals import referral_register

CUSTOMER_FIELDS = ("email", "first_name", "last_name", "language", "birth_date")


class EmailTaken(LoyaltyError):
    code = "email_taken"
    status = 409
    default_message = _("Another customer already uses this e-mail address.")


class MemberAlreadyLinked(LoyaltyError):
    code = "member_already_linked"
    status = 409
    default_message = _("This customer is already your member under another external id.")


class ConcurrentUpdate(LoyaltyError):
    code = "concurrent_update"
    status = 409
    default_message = _("The member was changed by another request at the same time; retry.")


@dataclass(frozen=True)
class MemberUpsert:
    link: PartnerCustomer
    created: bool
    enrolled: list[Membership]
    referral: Referral | None


def partner_member_upsert(
    *,
    partner: Partner,
    external_id: str,
    fields: dict,
    programs: Iterable[Program] = (),
    referral_code: str = "",
    ip: str | None = None,
    device_id: str = "",
) -> MemberUpsert:
    """Create or update the member ``external_id`` of ``partner``: contact fields given in
    ``fields`` are set, the member is enrolled in ``programs`` (never unenrolled), and a
    ``referral_code`` registers the referral in the code's program."""
    unknown = set(fields) - set(CUSTOMER_FIELDS)
    if unknown:
        raise TypeError(f"partner_member_upsert() got unexpected fields: {sorted(unknown)}")
    programs = list(programs)
    allowed = set(partner.programs.values_list("pk", flat=True))
    if any(p.pk not in allowed for p in programs):
        raise ProgramMismatch("This partner cannot enroll members in that program.")
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _upsert(
                    partner, external_id, fields, programs, referral_code.strip(), ip, device_id
                )
        except IntegrityError:
            if attempt:  # a concurrent request created the same link or e-mail: it won
                raise ConcurrentUpdate() from None
    raise ConcurrentUpdate()


def _upsert(partner, external_id, fields, programs, referral_code, ip, device_id) -> MemberUpsert:
    link = (
        PartnerCustomer.objects.select_for_update()
        .select_related("customer")
        .filter(partner=partner, external_id=external_id)
        .first()
    )
    email = (fields.get("email") or "").strip()
    created = link is None
    if link is None:
        customer = Customer.objects.filter(email__iexact=email).first() if email else None
        if customer is None:
            customer = customer_create(**fields)
        else:
            other = PartnerCustomer.objects.filter(partner=partner, customer=customer).first()
            if other is not None:
                raise MemberAlreadyLinked(
                    f"This e-mail address belongs to your member '{other.external_id}'.",
                    field="email",
                )
            _customer_update(customer, fields)
        link = PartnerCustomer.objects.create(
            partner=partner, customer=customer, external_id=external_id
        )
    else:
        _customer_update(link.customer, fields)
        link.save(update_fields=["updated_at"])
    enrolled = []
    for program in programs:
        membership, joined = membership_enroll(customer=link.customer, program=program)
        if joined:
            enrolled.append(membership)
    referral = _referral(partner, link.customer, referral_code, ip, device_id)
    return MemberUpsert(link=link, created=created, enrolled=enrolled, referral=referral)


def _customer_update(customer: Customer, fields: dict) -> None:
    changed = {k: v for k, v in fields.items() if getattr(customer, k) != v}
    if not changed:
        return
    email = (changed.get("email") or "").strip()
    if email and Customer.objects.filter(email__iexact=email).exclude(pk=customer.pk).exists():
        raise EmailTaken(field="email")
    customer_update(customer, **changed)


def _referral(partner, customer, code: str, ip, device_id) -> Referral | None:
    if not code:
        return None
    referrer = Membership.objects.filter(referral_code=code.upper()).first()
    referee = (
        Membership.objects.filter(
            customer=customer, program_id=referrer.program_id, program__partners=partner
        ).first()
        if referrer
        else None
    )
    if referee is None:
        raise ReferralNotAllowed(
            "This referral code is not valid for a program the member is enrolled in.",
            field="referral_code",
        )
    existing = Referral.objects.filter(referee=referee).first()
    if existing is not None and existing.referrer_id == referrer.pk:
        return existing  # the same sign-up sent again
    return referral_register(
        referral_code=code, referee=referee, ip=ip or None, device_id=device_id or ""
    )
