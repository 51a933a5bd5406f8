"""``GET /api/v1/keys/current``: the calling key as the platform sees it (scopes, expiry,
last use), for a partner to check a key and plan its rotation. Any active key may ask."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response

from programs.api.schema import problems
from programs.api.views.base import PartnerAPIView
from programs.models import ApiKey


class AnyApiKey(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiKey)


class CurrentKeySerializer(serializers.ModelSerializer):
    partner = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = ApiKey
        fields = ["prefix", "name", "partner", "scopes", "created_at", "expires_at", "last_used_at"]
        read_only_fields = fields


class CurrentKeyView(PartnerAPIView):
    permission_classes = [AnyApiKey]
    serializer_class = CurrentKeySerializer

    @extend_schema(
        tags=["Keys"],
        operation_id="keys_current",
        summary="The API key of this request",
        description=(
            "Its prefix, name, scopes, expiry (null: never) and last use. Rotate a key "
            "before it expires by using a second active key; an expired key answers 401 "
            "with code `api_key_expired`."
        ),
        responses={200: CurrentKeySerializer, **problems()},
    )
    def get(self, request):
        return Response(CurrentKeySerializer(request.auth).data)
