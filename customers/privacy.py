"""Completing a customer's deletion request: the person is forgotten, the books are not.

``customer_anonymize`` removes what identifies the person (name, e-mail, birth date, the
portal login's username and e-mail, notification texts, free-text survey comments) and
closes their memberships so nothing more is earned or redeemed. The append-only ledger,
purchases and survey scores stay, no longer linked to anyone identifiable, so balances,
liabilities and metrics keep adding up. Staff run it from the customer's admin page after
the customer asked for deletion in the portal.
"""

from django.db import transaction
from django.utils import timezone

from customers.models import Customer


@transaction.atomic
def customer_anonymize(*, customer: Customer, user) -> Customer:
    """Anonymise ``customer`` (idempotent: a second call changes nothing)."""
    from customers.notifications.models import Notification
    from programs.models import Membership, MembershipStatus
    from programs.services.memberships import membership_close
    from surveys.models import Response

    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.anonymized_at:
        return customer
    for membership in Membership.objects.filter(customer=customer).exclude(
        status=MembershipStatus.CLOSED
    ):
        membership_close(membership=membership, reason="customer data deleted", user=user)
    Notification.objects.filter(customer=customer).delete()
    Response.objects.filter(membership__customer=customer).exclude(comment="").update(comment="")
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
    customer.anonymized_at = timezone.now()
    customer.save()
    return customer
