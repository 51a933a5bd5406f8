"""The problem details shape, for the schema (responses are built in ``exceptions``)."""

from rest_framework import serializers


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(help_text="Dotted path, e.g. `lines.0.unit_price`.")
    pointer = serializers.CharField(help_text="JSON pointer, e.g. `#/lines/0/unit_price`.")
    code = serializers.CharField(help_text="e.g. `required`, `unknown_field`.")
    detail = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="`urn:loyalty:problem:<code>`")
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="Machine-readable, stable.")
    instance = serializers.CharField(required=False, help_text="The request path.")
    errors = FieldErrorSerializer(many=True, required=False)
