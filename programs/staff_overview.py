"""What the admin home shows staff first: the work waiting for them and each program's key
figures. Reads only; a handful of queries whatever the number of rows."""

from dataclasses import dataclass

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from customers.models import Customer, CustomerKind
from programs.models import (
    MembershipStatus,
    Program,
    Purchase,
    PurchaseStatus,
    Referral,
    ReferralStatus,
    Transfer,
    TransferStatus,
    WebhookDelivery,
    WebhookDeliveryState,
)


@dataclass(frozen=True)
class WorkWaiting:
    referrals_in_review: int
    transfers_in_review: int
    deletion_requests: int
    failed_webhook_deliveries: int
    failed_purchases: int


@dataclass(frozen=True)
class ProgramFigures:
    program: Program
    members: int
    points_outstanding: int
    points_pending: int


def work_waiting() -> WorkWaiting:
    """Referrals and points transfers held for review, deletion requests not yet carried
    out, webhook deliveries the outbox gave up on, purchases whose points could not be
    awarded."""
    return WorkWaiting(
        referrals_in_review=Referral.objects.filter(status=ReferralStatus.REVIEW).count(),
        transfers_in_review=Transfer.objects.filter(status=TransferStatus.REVIEW).count(),
        deletion_requests=Customer.objects.filter(
            deletion_requested_at__isnull=False, anonymized_at__isnull=True
        ).count(),
        failed_webhook_deliveries=WebhookDelivery.objects.filter(
            state=WebhookDeliveryState.FAILED
        ).count(),
        failed_purchases=Purchase.objects.filter(status=PurchaseStatus.FAILED).count(),
    )


def programs_key_figures() -> list[ProgramFigures]:
    """Per active program: active members (people; a shared account's own balance is not a
    member, its points count in the liability), available points not yet spent or expired (the
    liability) and points still pending in the return window."""
    active = Q(memberships__status=MembershipStatus.ACTIVE) & Q(
        memberships__customer__kind=CustomerKind.PERSON
    )
    rows = (
        Program.objects.filter(is_active=True)
        .annotate(
            member_total=Count("memberships", filter=active),
            outstanding=Coalesce(Sum("memberships__balance"), 0),
            pending_total=Coalesce(Sum("memberships__pending"), 0),
        )
        .order_by("name")
    )
    return [
        ProgramFigures(
            program=row,
            members=row.member_total,
            points_outstanding=row.outstanding,
            points_pending=row.pending_total,
        )
        for row in rows
    ]
