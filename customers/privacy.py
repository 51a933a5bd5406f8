"""What the platform holds about a person: the export ("download my data", GDPR Art. 15)
and the erasure (their deletion request: the person is forgotten, the books are not).

``customer_data`` is this app's part of the export, which ``loyalty_site.portal.export``
composes with the other apps' (``programs.privacy``, ``surveys.privacy``): the person's
details, portal login, and e-mail preferences with the time they last changed (the
preferences row keeps no history of earlier choices). Staff's notes (``CustomerNote``)
are not in the download, only their number: they are staff's working notes, free text
that can name other people (GDPR Art. 15(4)), and staff hand them out on request after
reading them.

``customer_anonymize`` removes what identifies the person (name, e-mail, birth date, the
portal login's username and e-mail, staff's notes about them) and runs every erasure step
the other apps registered with ``erasure_step``: the engine closes the memberships so
nothing more is earned or redeemed and drops the notification texts, the surveys clear
free-text comments, the staff audit log redacts the person's values. The
append-only ledger, purchases and survey scores stay, no longer linked to anyone
identifiable, so balances, liabilities and metrics keep adding up. Staff run it from the
customer's admin page after the customer asked for deletion in the portal.

Steps register themselves (in their app's ``ready``) because this app imports no other:
each app knows what it holds about a person, and all steps run in one transaction.
"""

from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from customers.models import CommunicationPreferences, Customer, CustomerNote
from customers.preferences import customer_preferences

ErasureStep = Callable[..., None]  # step(*, customer, user)
_STEPS: dict[str, ErasureStep] = {}


def customer_data(*, customer: Customer) -> dict:
    login = customer.user
    preferences = CommunicationPreferences.objects.filter(customer=customer).first()
    return {
        "customer": {
            "email": customer.email,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "language": customer.language,
            "birth_date": customer.birth_date,
            "created_at": customer.created_at,
            "updated_at": customer.updated_at,
            "deletion_requested_at": customer.deletion_requested_at,
            "retention_notice_at": customer.retention_notice_at,
        },
        "portal_login": {
            "username": login.username,
            "email": login.email,
            "date_joined": login.date_joined,
            "last_login": login.last_login,
        }
        if login is not None
        else None,
        "communication_preferences": customer_preferences(customer),
        "communication_preferences_changed_at": preferences.updated_at if preferences else None,
        "staff_notes_count": CustomerNote.objects.filter(customer=customer).count(),
    }


def erasure_step(name: str) -> Callable[[ErasureStep], ErasureStep]:
    """Register ``step(*, customer, user)`` to run when a customer is anonymised."""

    def register(step: ErasureStep) -> ErasureStep:
        _STEPS[name] = step
        return step

    return register


def erasure_steps() -> list[str]:
    return sorted(_STEPS)


@transaction.atomic
def customer_anonymize(*, customer: Customer, user) -> Customer:
    """Anonymise ``customer`` (idempotent: a second call changes nothing). ``user``: the
    staff member who completed the deletion request, or ``None`` for a system run (the
    retention job, ``programs.services.retention``); every step accepts ``None``."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.anonymized_at:
        return customer
    for name in erasure_steps():
        _STEPS[name](customer=customer, user=user)
    if customer.user_id:
        login = customer.user
        login.username = f"deleted-customer-{customer.pk}"
        login.email = ""
        login.first_name = login.last_name = ""
        login.is_active = False
        login.set_unusable_password()
        login.save()
    customer.email = customer.email_normalized = ""
    customer.first_name = customer.last_name = ""
    customer.birth_date = None
    CustomerNote.objects.filter(customer=customer).delete()
    customer.anonymized_at = timezone.now()
    customer.save()
    return customer
