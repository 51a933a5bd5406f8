"""Completing a customer's deletion request: the person is forgotten, the books are not.

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

from customers.models import Customer, CustomerNote

ErasureStep = Callable[..., None]  # step(*, customer, user)
_STEPS: dict[str, ErasureStep] = {}


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
