"""Members: the upsert body, the member, balances, history, referrals."""

from rest_framework import serializers

from customers.models import CustomerKind, Language
from programs.api.serializers.base import IdField, IpAddressField, StrictSerializer
from programs.models import EntryKind, EntrySource, MembershipStatus, ReferralStatus


class SignupSignalsInput(StrictSerializer):
    ip_address = IpAddressField(
        required=False, allow_null=True, help_text="The customer's IP address at sign-up."
    )
    device_id = serializers.CharField(
        required=False, allow_blank=True, max_length=128, help_text="A stable device id."
    )


class MemberUpsertInput(StrictSerializer):
    email = serializers.EmailField(
        required=False,
        max_length=254,
        help_text="Leave it out if you do not know it; an empty address is refused.",
    )
    first_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    last_name = serializers.CharField(required=False, allow_blank=True, max_length=150)
    language = serializers.ChoiceField(choices=Language.choices, required=False)
    birth_date = serializers.DateField(required=False, allow_null=True)
    programs = serializers.ListField(
        child=serializers.SlugField(max_length=50),
        required=False,
        max_length=20,
        help_text="Slugs of programs to enroll the member in (never unenrolls).",
    )
    referral_code = IdField(
        required=False,
        allow_blank=True,
        max_length=16,
        help_text="The code of the member who referred this one, if any.",
    )
    signals = SignupSignalsInput(
        required=False, help_text="Sign-up signals for the referral fraud checks."
    )

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                "The body is empty: give at least one field, such as the e-mail address or "
                "the programs to enroll the member in.",
                code="empty_body",
            )
        return attrs


class TierSerializer(serializers.Serializer):
    name = serializers.CharField()
    rank = serializers.IntegerField()


class MembershipFiguresSerializer(serializers.Serializer):
    """What the platform computes about the membership, each with when it was computed
    (null: not computed yet). No money figure: a partner must not learn what the
    customer spends with other partners."""

    engagement_score = serializers.DecimalField(
        source="figures.engagement_score",
        max_digits=5,
        decimal_places=2,
        allow_null=True,
        help_text="0-100, recomputed nightly from purchases, portal visits, answered "
        "surveys, referrals and redemptions in this program.",
    )
    churn_risk = serializers.BooleanField(
        source="figures.churn_risk",
        allow_null=True,
        help_text="The engagement score is low or has dropped sharply.",
    )
    engagement_computed_at = serializers.DateTimeField(
        source="figures.engagement_computed_at", allow_null=True
    )
    probability_alive = serializers.DecimalField(
        source="figures.probability_alive",
        max_digits=5,
        decimal_places=4,
        allow_null=True,
        help_text="0-1: how likely the member still buys in this program (BG/NBD model, "
        "fitted nightly). Null for members without a purchase.",
    )
    probability_alive_computed_at = serializers.DateTimeField(
        source="figures.clv_computed_at", allow_null=True
    )


class MembershipSerializer(serializers.Serializer):
    program = serializers.SlugField(source="program.slug")
    status = serializers.ChoiceField(choices=MembershipStatus.choices)
    joined_at = serializers.DateTimeField()
    referral_code = serializers.CharField()
    card_number = serializers.CharField(
        help_text="The member card's number (16 digits): `GET /cards/{number}` finds it. It "
        "identifies the member; spending also needs their proof."
    )
    tier = TierSerializer(allow_null=True)
    available = serializers.IntegerField(source="balance", help_text="Spendable points.")
    pending = serializers.IntegerField(help_text="Points still in the return window.")
    held = serializers.IntegerField(help_text="Points held to pay an order, not available.")
    debt = serializers.IntegerField(help_text="Points owed after returns; blocks redeeming.")
    figures = MembershipFiguresSerializer(
        source="*", help_text="Engagement, churn risk and probability alive (no money)."
    )


class MemberSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    kind = serializers.ChoiceField(
        choices=CustomerKind.choices,
        source="customer.kind",
        help_text="`person`, or `shared` for a shared account you created (its name is in "
        "`last_name`; `GET /accounts/{external_id}` has its members).",
    )
    email = serializers.CharField(
        source="partner_email", help_text="The e-mail address, or empty if none is known."
    )
    first_name = serializers.CharField(source="customer.first_name")
    last_name = serializers.CharField(source="customer.last_name")
    language = serializers.ChoiceField(choices=Language.choices, source="customer.language")
    birth_date = serializers.DateField(source="customer.birth_date", allow_null=True)
    memberships = MembershipSerializer(
        source="customer.visible_memberships",
        many=True,
        help_text="Memberships in the programs this partner takes part in.",
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField(source="customer.updated_at")


class ExpiringPointsSerializer(serializers.Serializer):
    expires_at = serializers.DateTimeField()
    points = serializers.IntegerField()


class NextTierSerializer(TierSerializer):
    threshold = serializers.DecimalField(max_digits=14, decimal_places=2)


class TierProgressSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text="'spend' (program currency) or 'points'.")
    qualifying_value = serializers.DecimalField(max_digits=14, decimal_places=2)
    window_start = serializers.DateTimeField()
    window_end = serializers.DateTimeField()
    next_tier = NextTierSerializer(allow_null=True)
    gap = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        allow_null=True,
        help_text="What is missing to reach the next tier (null at the top tier).",
    )
    review_at = serializers.DateTimeField(
        allow_null=True, help_text="When the tier is next re-evaluated."
    )


class ProgramBalanceSerializer(serializers.Serializer):
    program = serializers.SlugField(source="membership.program.slug")
    currency = serializers.CharField(source="membership.program.currency")
    status = serializers.ChoiceField(choices=MembershipStatus.choices, source="membership.status")
    available = serializers.IntegerField(source="membership.balance")
    pending = serializers.IntegerField(source="membership.pending")
    held = serializers.IntegerField(
        source="membership.held", help_text="Points held to pay an order, not available."
    )
    debt = serializers.IntegerField(source="membership.debt")
    lifetime_earned = serializers.IntegerField(source="membership.lifetime_earned")
    expiring = ExpiringPointsSerializer(
        many=True, help_text="Available points expiring within `expiring_within_days`."
    )
    expiring_within_days = serializers.IntegerField()
    tier = TierSerializer(source="membership.tier", allow_null=True)
    tier_progress = TierProgressSerializer(source="progress")


class BalanceSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    programs = ProgramBalanceSerializer(many=True)


class LedgerEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    program = serializers.SlugField(source="membership.program.slug")
    kind = serializers.ChoiceField(choices=EntryKind.choices)
    source = serializers.ChoiceField(choices=EntrySource.choices)
    points = serializers.IntegerField(help_text="Change of the available points.")
    pending_points = serializers.IntegerField(help_text="Change of the pending points.")
    held_points = serializers.IntegerField(
        help_text="Change of the points held to pay an order (a hold, its capture or release)."
    )
    available_after = serializers.IntegerField(
        source="balance_after", help_text="Available points after the entry (negative: debt)."
    )
    pending_after = serializers.IntegerField()
    description = serializers.SerializerMethodField()
    campaign_bonuses = serializers.SerializerMethodField(
        help_text="For a purchase's points: the campaigns that added a bonus, each "
        "`{campaign, points}` (included in `points` or `pending_points`)."
    )
    purchase_id = serializers.SerializerMethodField()
    order_id = serializers.SerializerMethodField()
    redemption_id = serializers.IntegerField(allow_null=True)
    hold_id = serializers.SerializerMethodField()
    effective_at = serializers.DateTimeField(
        help_text="When the entry counts: a purchase's date for its points and returns, "
        "otherwise when it was recorded. The history is ordered by it, newest first."
    )
    created_at = serializers.DateTimeField(help_text="When the entry was recorded.")

    def _own(self, entry) -> bool:
        partner = self.context["partner"]
        return entry.actor_partner_id in (None, partner.pk)

    def get_description(self, entry) -> str:
        """Another partner's reasons (its order numbers) are not shown."""
        return entry.reason if self._own(entry) else ""

    def get_campaign_bonuses(self, entry) -> list[dict]:
        if entry.kind != EntryKind.EARN or not entry.purchase_id:
            return []
        return self.context.get("bonuses", {}).get(entry.purchase_id, [])

    def get_purchase_id(self, entry) -> int | None:
        purchase = entry.purchase
        return (
            purchase.pk if purchase and purchase.partner_id == self.context["partner"].pk else None
        )

    def get_hold_id(self, entry) -> int | None:
        hold = entry.hold
        return hold.pk if hold and hold.partner_id == self.context["partner"].pk else None

    def get_order_id(self, entry) -> str | None:
        purchase = entry.purchase
        if purchase and purchase.partner_id == self.context["partner"].pk:
            return purchase.order_id
        return None


class ReferralMadeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ReferralStatus.choices)
    referee_external_id = serializers.CharField(
        allow_null=True, help_text="The friend's external id, if they are your member too."
    )
    created_at = serializers.DateTimeField()
    rewarded_at = serializers.DateTimeField(allow_null=True)


class ProgramReferralSerializer(serializers.Serializer):
    program = serializers.SlugField()
    code = serializers.CharField()
    link = serializers.URLField()
    referrals = ReferralMadeSerializer(many=True)


class MemberReferralSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    programs = ProgramReferralSerializer(many=True)
