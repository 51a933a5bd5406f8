"""What the engine forgets when a customer's deletion request is completed
(``customers.privacy.customer_anonymize``): memberships are closed so nothing more is
earned or redeemed, and notification texts are deleted. Ledger and purchases stay."""

from customers.privacy import erasure_step
from programs.models import Membership, MembershipStatus
from programs.notifications.models import Notification
from programs.services.memberships import membership_close


@erasure_step("programs: close memberships")
def memberships_close(*, customer, user) -> None:
    for membership in Membership.objects.filter(customer=customer).exclude(
        status=MembershipStatus.CLOSED
    ):
        membership_close(membership=membership, reason="customer data deleted", user=user)


@erasure_step("programs: drop notifications")
def notifications_drop(*, customer, user) -> None:
    Notification.objects.filter(customer=customer).delete()
