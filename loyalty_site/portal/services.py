"""Writes made by customers through the portal: sign-up, e-mail confirmation, joining a
program, profile and privacy requests. Points and rewards go through ``programs.services``.
"""

from dataclasses import dataclass

from axes.utils import reset as axes_reset
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from customers.services import customer_create
from loyalty_site.portal.backends import login_username
from loyalty_site.portal.models import EmailConfirmation
from programs.errors import LoyaltyError, ReferralNotAllowed
from programs.models import Membership, Program, Referral
from programs.services.memberships import membership_enroll
from programs.services.referrals import referral_register

CONFIRMATION_SALT = "loyalty_site.portal.email-confirmation"
CONFIRMATION_MAX_AGE = 60 * 60 * 24 * 7  # a week


class EmailTaken(LoyaltyError):
    code = "email_taken"
    status = 409
    default_message = _(
        "There is already a login for this e-mail address. Log in or reset your password."
    )


class ConfirmationInvalid(LoyaltyError):
    code = "confirmation_invalid"
    status = 400
    default_message = _("This confirmation link is invalid or has expired.")


@dataclass(frozen=True)
class Signup:
    user: object
    confirmation: EmailConfirmation
    customer: Customer | None  # None until confirmed, when the address had a customer
    membership: Membership | None
    referral: Referral | None


def _enroll(customer: Customer, program: Program | None, referral_code: str, ip: str | None):
    if program is None or not program.is_active:
        return None, None
    membership, created = membership_enroll(customer=customer, program=program)
    referral = None
    if created and referral_code:
        try:
            referral = referral_register(referral_code=referral_code, referee=membership, ip=ip)
        except ReferralNotAllowed:
            referral = None  # a stale or foreign code must not stop the sign-up
    return membership, referral


@transaction.atomic
def portal_signup(
    *,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    language: str,
    program: Program | None,
    referral_code: str = "",
    ip: str | None = None,
) -> Signup:
    """Create the login (username = e-mail), the customer and the membership.

    An address that already belongs to a customer without a login is only linked once the
    mailbox is confirmed (``email_confirm``), so no one reads another person's points by
    signing up with their address.
    """
    email = email.strip()
    users = get_user_model()._default_manager
    if users.filter(Q(username__iexact=email) | Q(email__iexact=email)).exists():
        raise EmailTaken()
    existing = Customer.objects.filter(email__iexact=email).first()
    if existing is not None and existing.user_id is not None:
        raise EmailTaken()
    user = users.create_user(
        username=email.lower(),
        email=email,
        password=password,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
    )
    confirmation = EmailConfirmation.objects.create(
        user=user,
        email=email,
        program=program if existing is not None else None,
        referral_code=referral_code.strip().upper() if existing is not None else "",
    )
    if existing is not None:
        return Signup(user, confirmation, None, None, None)
    customer = customer_create(
        email=email, first_name=first_name, last_name=last_name, language=language, user=user
    )
    membership, referral = _enroll(customer, program, referral_code, ip)
    return Signup(user, confirmation, customer, membership, referral)


def confirmation_token(confirmation: EmailConfirmation) -> str:
    return signing.dumps([confirmation.user_id, confirmation.email], salt=CONFIRMATION_SALT)


@transaction.atomic
def email_confirm(*, token: str, ip: str | None = None) -> EmailConfirmation:
    """Mark the address confirmed (idempotent); link a waiting customer and enroll."""
    try:
        user_id, email = signing.loads(token, salt=CONFIRMATION_SALT, max_age=CONFIRMATION_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        raise ConfirmationInvalid() from None
    confirmation = (
        EmailConfirmation.objects.select_for_update(of=("self",))
        .select_related("user", "program")
        .filter(user_id=user_id)
        .first()
    )
    if confirmation is None or confirmation.email.lower() != str(email).lower():
        raise ConfirmationInvalid()
    if confirmation.confirmed_at is not None:
        return confirmation
    user = confirmation.user
    if not Customer.objects.filter(user=user).exists():
        customer = (
            Customer.objects.select_for_update()
            .filter(email__iexact=confirmation.email, user__isnull=True)
            .first()
        )
        if customer is None:
            customer = customer_create(
                email=confirmation.email,
                first_name=user.first_name,
                last_name=user.last_name,
                user=user,
            )
        else:
            customer.user = user
            customer.save(update_fields=["user", "updated_at"])
        _enroll(customer, confirmation.program, confirmation.referral_code, ip)
    confirmation.confirmed_at = timezone.now()
    confirmation.save(update_fields=["confirmed_at"])
    return confirmation


def email_confirmed(user) -> bool:
    """False only for a portal sign-up whose address has not been confirmed yet."""
    confirmation = getattr(user, "email_confirmation", None)
    return confirmation is None or confirmation.confirmed_at is not None


def program_join(*, customer: Customer, program: Program) -> tuple[Membership, bool]:
    """A signed-in customer joins one more program through its enrollment link."""
    return membership_enroll(customer=customer, program=program)


def account_deletion_request(*, customer: Customer) -> Customer:
    """Record the wish to be deleted (once); staff complete it in the admin."""
    Customer.objects.filter(pk=customer.pk, deletion_requested_at__isnull=True).update(
        deletion_requested_at=timezone.now()
    )
    customer.refresh_from_db(fields=["deletion_requested_at"])
    return customer


def login_lockout_end(*, user) -> int:
    """End the lockout after failed logins (django-axes) for ``user`` from every address,
    once the member has set a new password from the e-mailed link.

    Failures are counted under the login as typed (``backends.login_username``): the user
    name or the e-mail address, so both are cleared. Returns the number of records removed.
    """
    logins = {user.get_username(), user.email}
    keys = {login_username(None, {"username": login}) for login in logins if login}
    # An empty key would make axes reset every account's failures: never pass one.
    return sum(axes_reset(username=key) for key in keys if key)
