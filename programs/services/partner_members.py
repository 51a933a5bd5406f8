"""A partner enrolls or updates a member by its own external id (the API's upsert).

The customer is the person, shared by every partner that links them; the link
(``PartnerCustomer``) is what lets a partner see them. An e-mail address that already
belongs to another customer links nobody at once: the partner's member stays a customer
of its own and the owner of the address is asked to confirm (``link_claims``), so the
answer is the same as for a new person and the partner sees nothing of the other
customer until they agree.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from customers.services import customer_create, customer_update
from programs.errors import LoyaltyError, ProgramMismatch, ReferralNotAllowed
from programs.models import Membership, Partner, PartnerCustomer, Program, Referral
from programs.services.link_claims import claim_open, claim_withdraw
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
    created = link is None
    if link is None:
        owner = _email_owner(fields)
        if owner is not None:
            _refuse_own_member(partner, owner)
        customer = customer_create(**_without_email(fields) if owner else fields)
        link = PartnerCustomer.objects.create(
            partner=partner, customer=customer, external_id=external_id
        )
        if owner is not None:
            claim_open(link=link, customer=owner, email=fields["email"].strip())
    else:
        _contact_update(link, fields)
        link.save(update_fields=["updated_at"])
    enrolled = []
    for program in programs:
        membership, joined = membership_enroll(customer=link.customer, program=program)
        if joined:
            enrolled.append(membership)
    referral = _referral(partner, link.customer, referral_code, ip, device_id)
    return MemberUpsert(link=link, created=created, enrolled=enrolled, referral=referral)


def _email_owner(fields: dict, *, besides: Customer | None = None) -> Customer | None:
    email = (fields.get("email") or "").strip()
    if not email:
        return None
    owners = Customer.objects.filter(email__iexact=email)
    if besides is not None:
        owners = owners.exclude(pk=besides.pk)
    return owners.first()


def _refuse_own_member(partner: Partner, owner: Customer) -> None:
    """The address is the partner's own member's: nothing to hide, name them."""
    other = PartnerCustomer.objects.filter(partner=partner, customer=owner).first()
    if other is not None:
        raise MemberAlreadyLinked(
            f"This e-mail address belongs to your member '{other.external_id}'.", field="email"
        )


def _without_email(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if k != "email"}


def _contact_update(link: PartnerCustomer, fields: dict) -> None:
    """Update the partner's member. An address that is another customer's asks them to
    confirm, as on enrolment, when the member is the partner's alone (no portal login, no
    other partner); otherwise the address is refused."""
    customer = link.customer
    owner = _email_owner(fields, besides=customer) if "email" in fields else None
    if owner is None:
        if "email" in fields:
            claim_withdraw(link)
        _customer_update(customer, fields)
        return
    if customer.user_id is not None or customer.partner_links.exclude(pk=link.pk).exists():
        raise EmailTaken(field="email")
    _refuse_own_member(link.partner, owner)
    claim_open(link=link, customer=owner, email=fields["email"].strip())
    _customer_update(customer, _without_email(fields))


def _customer_update(customer: Customer, fields: dict) -> None:
    changed = {k: v for k, v in fields.items() if getattr(customer, k) != v}
    if changed:
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
