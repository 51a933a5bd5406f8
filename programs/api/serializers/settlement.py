"""A partner's monthly settlement: the query and the answer (``programs.settlement``)."""

from rest_framework import serializers

from programs.api.serializers.base import QuerySerializer
from programs.settlement import MonthInvalid, month_parse

MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


class SettlementQuery(QuerySerializer):
    program = serializers.SlugField(max_length=50)
    month = serializers.CharField(max_length=7)

    def validate_month(self, value: str):
        try:
            return month_parse(value)
        except MonthInvalid as error:
            raise serializers.ValidationError(str(error.message), code=error.code) from None


class SettlementFiguresSerializer(serializers.Serializer):
    points_issued = serializers.IntegerField(
        help_text="Points earned (pending or available) less points returned."
    )
    points_redeemed = serializers.IntegerField(
        help_text="Points accepted: captured holds less refunds, vouchers used, rewards "
        "redeemed through the API less cancellations."
    )
    value_issued = serializers.DecimalField(
        max_digits=18, decimal_places=2, help_text="points_issued x point_value, rounded."
    )
    value_redeemed = serializers.DecimalField(
        max_digits=18, decimal_places=2, help_text="points_redeemed x point_value, rounded."
    )
    net = serializers.DecimalField(
        max_digits=18,
        decimal_places=2,
        help_text="(points_issued - points_redeemed) x point_value, rounded once: positive, "
        "owed to the operator; negative, owed by the operator.",
    )


class SettlementSerializer(serializers.Serializer):
    program = serializers.SlugField(source="program.slug")
    month = serializers.RegexField(MONTH_PATTERN, help_text="The month, YYYY-MM.")
    currency = serializers.CharField(source="program.currency")
    point_value = serializers.DecimalField(
        source="program.point_value",
        max_digits=10,
        decimal_places=4,
        help_text="What one point is worth.",
    )
    partner = SettlementFiguresSerializer(help_text="Your own figures.")
    totals = SettlementFiguresSerializer(
        help_text="The program's figures: all partners and the operator."
    )
