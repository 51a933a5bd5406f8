"""Reads of a customer's notifications, for the portal feed; always scoped to one customer."""

from customers.models import Customer
from programs.notifications.models import Notification


def notifications_recent(
    customer: Customer, *, program=None, limit: int = 10
) -> list[Notification]:
    """The customer's newest notifications (optionally of one program's membership, plus
    those tied to no membership), newest first. ``notification.message`` renders the
    title and body in the active language."""
    notifications = Notification.objects.filter(customer=customer)
    if program is not None:
        notifications = notifications.filter(membership__program=program) | notifications.filter(
            membership__isnull=True
        )
    return list(notifications.order_by("-created_at", "-id")[: max(0, int(limit))])


def notifications_unread_count(customer: Customer) -> int:
    return Notification.objects.filter(customer=customer, read_at__isnull=True).count()
