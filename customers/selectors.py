"""Reads for the portal and the staff dashboard, always scoped to one customer."""

from decimal import Decimal

from django.db.models import Max

from customers.models import Customer, EngagementScore, EngagementScoreDay, Notification


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


def customer_engagement(customer: Customer) -> Decimal | None:
    """The customer's engagement score: the best of their memberships' scores (a member
    engaged in one program is engaged with the brand), None before the first recompute."""
    return EngagementScore.objects.filter(customer=customer).aggregate(best=Max("score"))["best"]


def membership_engagement_history(*, membership, days: int = 90) -> list[EngagementScoreDay]:
    """The last ``days`` daily scores, oldest first, for trend charts."""
    recent = EngagementScoreDay.objects.filter(membership=membership).order_by("-day")[:days]
    return list(recent)[::-1]
