"""Reads of engagement scores, for the portal and the staff dashboard."""

from decimal import Decimal

from django.db.models import Max

from customers.models import Customer
from surveys.engagement.models import EngagementScore, EngagementScoreDay


def customer_engagement(customer: Customer) -> Decimal | None:
    """The customer's engagement score: the best of their memberships' scores (a member
    engaged in one program is engaged with the brand), None before the first recompute."""
    scores = EngagementScore.objects.filter(membership__customer=customer)
    return scores.aggregate(best=Max("engagement_score"))["best"]


def membership_engagement_history(*, membership, days: int = 90) -> list[EngagementScoreDay]:
    """The last ``days`` daily scores, oldest first, for trend charts."""
    recent = EngagementScoreDay.objects.filter(membership=membership).order_by("-day")[:days]
    return list(recent)[::-1]
