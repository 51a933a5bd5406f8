"""What the engine holds about a customer, and what it forgets when their deletion request
is completed.

``programs_data`` is the engine's part of "download my data" (GDPR Art. 15, composed by
``loyalty_site.portal.export``): memberships with card numbers and tiers, tier and status
history, the ledger, purchases with their lines and returns, vouchers, points holds,
partners' ids for the customer, referrals, campaign audiences, computed figures and the
notifications with their texts. One query per kind of record, however long the history.

The erasure steps (``customers.privacy.customer_anonymize``): memberships are closed so
nothing more is earned or redeemed, and notification texts are deleted. Ledger and
purchases stay.
"""

from django.utils import translation

from customers.models import Customer
from customers.privacy import erasure_step
from programs.models import (
    CampaignMember,
    CardProof,
    LedgerEntry,
    LinkClaim,
    Membership,
    MembershipFigures,
    MembershipStatus,
    MembershipStatusChange,
    PartnerCustomer,
    PointsHold,
    Purchase,
    PurchaseLine,
    Redemption,
    Referral,
    Refund,
    TierChange,
    TierSubscription,
)
from programs.notifications.models import Notification
from programs.services.memberships import membership_close


def _rows(queryset, *fields: str) -> list[dict]:
    return list(queryset.values(*fields))


def programs_data(*, customer: Customer) -> dict:
    memberships = list(
        Membership.objects.filter(customer=customer)
        .select_related("program", "tier", "qualified_tier", "override_tier", "subscription_tier")
        .order_by("pk")
    )
    ids = [m.pk for m in memberships]
    pins = dict(CardProof.objects.filter(membership__in=ids).values_list("pk", "pin_set_at"))

    def tier(t) -> str | None:
        return t.name if t else None

    return {
        "memberships": [
            {
                "program": m.program.name,
                "joined_at": m.joined_at,
                "status": m.status,
                "card_number": m.card_number,
                "card_pin_set_at": pins.get(m.pk),
                "referral_code": m.referral_code,
                "available_points": m.available,
                "pending_points": m.pending,
                "held_points": m.held,
                "points_earned_in_total": m.lifetime_earned,
                "last_activity_at": m.last_activity_at,
                "tier": tier(m.tier),
                "qualified_tier": tier(m.qualified_tier),
                "tier_review_at": m.tier_review_at,
                "tier_set_by_staff": tier(m.override_tier),
                "tier_set_by_staff_until": m.override_until,
                "subscribed_tier": tier(m.subscription_tier),
                "subscription_paid_until": m.subscription_until,
            }
            for m in memberships
        ],
        "tier_history": _rows(
            TierChange.objects.filter(membership__in=ids).order_by("created_at", "id"),
            "membership__program__name",
            "created_at",
            "from_tier__name",
            "to_tier__name",
            "reason",
            "qualifying_value",
            "window_start",
            "window_end",
            "note",
        ),
        "tier_subscriptions": _rows(
            TierSubscription.objects.filter(membership__in=ids).order_by("starts_at", "id"),
            "membership__program__name",
            "tier__name",
            "starts_at",
            "ends_at",
        ),
        "membership_status_history": _rows(
            MembershipStatusChange.objects.filter(membership__in=ids).order_by("created_at", "id"),
            "membership__program__name",
            "created_at",
            "from_status",
            "to_status",
            "reason",
        ),
        "ledger": _rows(
            LedgerEntry.objects.filter(membership__in=ids).order_by("created_at", "id"),
            "membership__program__name",
            "created_at",
            "effective_at",
            "kind",
            "points",
            "pending_points",
            "balance_after",
            "reason",
        ),
        "purchases": _rows(
            Purchase.objects.filter(membership__in=ids).order_by("occurred_at", "id"),
            "program__name",
            "partner__name",
            "order_id",
            "amount",
            "currency",
            "occurred_at",
            "refunded_amount",
            "points_awarded",
        ),
        "purchase_lines": _rows(
            PurchaseLine.objects.filter(purchase__membership__in=ids).order_by(
                "purchase__occurred_at", "purchase_id", "line_no"
            ),
            "purchase__partner__name",
            "purchase__order_id",
            "line_no",
            "sku",
            "category",
            "quantity",
            "unit_price",
            "amount",
            "refunded_quantity",
        ),
        "returns": _rows(
            Refund.objects.filter(purchase__membership__in=ids).order_by("created_at", "id"),
            "purchase__partner__name",
            "purchase__order_id",
            "refund_id",
            "amount",
            "points_reversed",
            "created_at",
        ),
        "redemptions": _rows(  # the vouchers
            Redemption.objects.filter(membership__in=ids).order_by("created_at", "id"),
            "membership__program__name",
            "reward__name",
            "points",
            "voucher_code",
            "status",
            "created_at",
            "expires_at",
            "used_at",
            "used_by_partner__name",
            "cancelled_at",
        ),
        "points_holds": _rows(
            PointsHold.objects.filter(membership__in=ids).order_by("created_at", "id"),
            "membership__program__name",
            "partner__name",
            "order_reference",
            "status",
            "points",
            "points_captured",
            "points_refunded",
            "amount",
            "captured_amount",
            "currency",
            "created_at",
            "expires_at",
            "captured_at",
            "voided_at",
            "expired_at",
        ),
        "partner_links": _rows(
            PartnerCustomer.objects.filter(customer=customer).order_by("created_at", "id"),
            "partner__name",
            "external_id",
            "created_at",
        ),
        # Partners that gave this customer's address for one of their customers, and the
        # answer (``link_claims``).
        "link_requests": _rows(
            LinkClaim.objects.filter(customer=customer).order_by("created_at", "id"),
            "link__partner__name",
            "email",
            "created_at",
            "confirmed_at",
            "declined_at",
        ),
        "referrals_made": _rows(
            Referral.objects.filter(referrer__in=ids).order_by("created_at", "id"),
            "program__name",
            "status",
            "created_at",
            "rewarded_at",
        ),
        # How the customer joined through a friend's link; the friend is not named (their
        # data), the fraud checks' verdict is not given.
        "referral_received": _rows(
            Referral.objects.filter(referee__in=ids).order_by("created_at", "id"),
            "program__name",
            "status",
            "created_at",
            "signup_ip",
            "signup_device_id",
        ),
        "campaign_audiences": _rows(
            CampaignMember.objects.filter(membership__in=ids).order_by("campaign_id"),
            "campaign__program__name",
            "campaign__name",
            "in_holdout",
        ),
        "computed_figures": _rows(
            MembershipFigures.objects.filter(membership__in=ids).order_by("membership_id"),
            "membership__program__name",
            "engagement_score",
            "churn_risk",
            "engagement_computed_at",
            "probability_alive",
            "expected_purchases",
            "predicted_clv",
            "clv_horizon_months",
            "clv_computed_at",
        ),
        "notifications": notifications_data(customer=customer),
    }


def notifications_data(*, customer: Customer) -> list[dict]:
    """Every notification with its title and text as the customer reads them (in their
    language) and what became of its e-mail."""
    notifications = Notification.objects.filter(customer=customer).order_by("created_at", "id")
    with translation.override(customer.language or "de"):
        return [
            {
                "kind": n.kind,
                "created_at": n.created_at,
                "title": (message := n.message).title,
                "text": message.body,
                "read_at": n.read_at,
                "email": n.email_state,
                "email_sent_at": n.email_sent_at,
            }
            for n in notifications
        ]


@erasure_step("programs: close memberships")
def memberships_close(*, customer, user) -> None:
    for membership in Membership.objects.filter(customer=customer).exclude(
        status=MembershipStatus.CLOSED
    ):
        membership_close(membership=membership, reason="customer data deleted", user=user)


@erasure_step("programs: drop notifications")
def notifications_drop(*, customer, user) -> None:
    Notification.objects.filter(customer=customer).delete()


@erasure_step("programs: drop link requests")
def link_claims_drop(*, customer, user) -> None:
    """The address partners gave for this customer, and claims on the partner's side
    (a partner's member with an address) are personal data: the rows go."""
    LinkClaim.objects.filter(customer=customer).delete()
    LinkClaim.objects.filter(link__customer=customer).delete()
