"""Everything the platform holds about one customer, for "download my data" (GDPR Art. 15).

One query per kind of record, however long the history is."""

from customers.models import Customer
from customers.preferences import customer_preferences
from programs.models import LedgerEntry, Membership, Purchase, Redemption, Referral
from programs.notifications.models import Notification


def customer_data_export(*, customer: Customer) -> dict:
    memberships = list(
        Membership.objects.filter(customer=customer)
        .select_related("program", "tier")
        .order_by("pk")
    )
    ids = [m.pk for m in memberships]
    return {
        "customer": {
            "email": customer.email,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "language": customer.language,
            "birth_date": customer.birth_date,
            "created_at": customer.created_at,
            "deletion_requested_at": customer.deletion_requested_at,
        },
        "memberships": [
            {
                "program": m.program.name,
                "joined_at": m.joined_at,
                "status": m.status,
                "referral_code": m.referral_code,
                "available_points": m.available,
                "pending_points": m.pending,
                "tier": m.tier.name if m.tier else None,
            }
            for m in memberships
        ],
        "ledger": list(
            LedgerEntry.objects.filter(membership__in=ids)
            .order_by("created_at", "id")
            .values(
                "membership__program__name",
                "created_at",
                "effective_at",
                "kind",
                "points",
                "pending_points",
                "balance_after",
                "reason",
            )
        ),
        "purchases": list(
            Purchase.objects.filter(membership__in=ids)
            .order_by("occurred_at", "id")
            .values(
                "program__name",
                "partner__name",
                "order_id",
                "amount",
                "currency",
                "occurred_at",
                "refunded_amount",
                "points_awarded",
            )
        ),
        "redemptions": list(
            Redemption.objects.filter(membership__in=ids)
            .order_by("created_at", "id")
            .values("reward__name", "points", "voucher_code", "status", "created_at", "used_at")
        ),
        "communication_preferences": customer_preferences(customer),
        "notifications": list(
            Notification.objects.filter(customer=customer)
            .order_by("created_at", "id")
            .values("kind", "created_at", "read_at")
        ),
        "referrals_made": list(
            Referral.objects.filter(referrer__in=ids)
            .order_by("created_at", "id")
            .values("program__name", "status", "created_at", "rewarded_at")
        ),
    }
