"""A dry run of one purchase: the input (a purchase without an order id) and the answer."""

from rest_framework import serializers

from programs.api.serializers.purchases import PurchaseInput


class PurchaseQuoteInput(PurchaseInput):
    """The body of ``POST /purchases``; ``order_id`` may be left out (nothing is stored)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["order_id"].required = False


class QuotedLineSerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    category = serializers.CharField()
    sku = serializers.CharField()
    rule = serializers.CharField(help_text="The earn rule that applies; empty for none.")
    excluded = serializers.BooleanField(help_text="The line earns nothing (an exclusion rule).")
    points = serializers.DecimalField(
        max_digits=18, decimal_places=4, help_text="The line's share of the points."
    )


class QuotedCampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    points = serializers.IntegerField(help_text="Bonus points from this campaign.")
    limited = serializers.BooleanField(
        help_text="A cap or budget limits it: the award may give less if it is spent meanwhile."
    )


class PurchaseQuoteSerializer(serializers.Serializer):
    member = serializers.CharField(source="member_external_id")
    program = serializers.SlugField(source="membership.program.slug")
    points = serializers.IntegerField(help_text="All the points the purchase would earn.")
    base_points = serializers.IntegerField(help_text="Points before campaign bonuses.")
    below_minimum = serializers.BooleanField(
        help_text="Below the program's minimum purchase: earns nothing."
    )
    tier = serializers.CharField(source="membership.tier.name", allow_null=True, default=None)
    tier_multiplier = serializers.DecimalField(max_digits=6, decimal_places=2)
    campaigns = QuotedCampaignSerializer(many=True)
    lines = QuotedLineSerializer(many=True)
