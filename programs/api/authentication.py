"""API key authentication: ``Authorization: Bearer <key>`` or ``X-Api-Key: <key>``."""

import logging
from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from programs.models import ApiKey, Partner
from programs.services.api_keys import KeyRefused, api_key_check, api_key_prefix_of

logger = logging.getLogger("programs.api")


@dataclass(frozen=True)
class PartnerPrincipal:
    """``request.user`` of an API request: the partner, acting through one key."""

    partner: Partner
    api_key: ApiKey
    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False

    @property
    def pk(self) -> int:
        return self.partner.pk

    def __str__(self) -> str:
        return f"{self.partner.slug} via {self.api_key.prefix}"


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        plaintext = self._credentials(request)
        if plaintext is None:
            return None
        try:
            api_key = api_key_check(plaintext)
        except KeyRefused as refused:
            prefix = api_key_prefix_of(plaintext) or "<malformed>"
            logger.info("api key refused (%s): %s", refused.reason, prefix)
            if refused.reason == "expired":
                expired = refused.api_key.expires_at.isoformat(timespec="seconds")
                raise exceptions.AuthenticationFailed(
                    f"The API key {prefix} expired at {expired}. Use another active key of "
                    "yours, or ask the operator for a new one.",
                    code="api_key_expired",
                ) from None
            raise exceptions.AuthenticationFailed(
                "The API key is not valid: it is unknown, malformed or revoked.",
                code="invalid_api_key",
            ) from None
        return PartnerPrincipal(partner=api_key.partner, api_key=api_key), api_key

    def _credentials(self, request) -> str | None:
        header = request.headers.get("Authorization")
        if header:
            scheme, _, value = header.strip().partition(" ")
            if scheme.lower() != self.keyword.lower() or not value.strip():
                raise exceptions.AuthenticationFailed(
                    "Send the key as 'Authorization: Bearer <key>'.",
                    code="invalid_authorization_header",
                )
            return value.strip()
        value = request.headers.get("X-Api-Key", "").strip()
        return value or None

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = ["bearerAuth", "apiKeyAuth"]

    def get_security_requirement(self, auto_schema):
        return [{"bearerAuth": []}, {"apiKeyAuth": []}]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": (
                    "A partner API key, `Authorization: Bearer lk_live_...`. Keys are created "
                    "in the admin (or with `manage.py create_api_key`) and shown once."
                ),
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-Api-Key",
                "description": "The same key in an `X-Api-Key` header, for clients that "
                "cannot set Authorization.",
            },
        ]
