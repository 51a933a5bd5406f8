"""Scopes of API keys: ``read`` for GET, ``write`` for changes, ``redeem`` for redemptions."""

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from programs.models import ApiKey, ApiKeyScope


def required_scope(request, view) -> str:
    """The scope a view demands for this method: ``view.scopes`` maps methods to scopes;
    otherwise safe methods need ``read`` and all others ``write``."""
    explicit = getattr(view, "scopes", {}).get(request.method)
    if explicit:
        return explicit
    return ApiKeyScope.READ if request.method in SAFE_METHODS else ApiKeyScope.WRITE


class HasApiKeyScope(BasePermission):
    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, ApiKey):
            return False  # DRF answers 401 with WWW-Authenticate
        scope = required_scope(request, view)
        if not request.auth.has_scope(scope):
            raise PermissionDenied(
                f"This API key lacks the '{scope}' scope. Create a key with that scope "
                "in the admin.",
                code="insufficient_scope",
            )
        return True
