"""Settings of the partner API's OpenAPI schema (drf-spectacular). Apart from ``base`` so
that it stays a readable size; ``base`` takes them with ``spectacular_settings``."""


def spectacular_settings() -> dict:
    """``SPECTACULAR_SETTINGS``: the schema's title and description, its post-processing,
    the names of the enums several models share, and the bundled Swagger UI and ReDoc."""
    return {
        "TITLE": "Loyalty Platform Partner API",
        "DESCRIPTION": (
            "Enroll members, record purchases and returns, read balances, redeem rewards.\n\n"
            "Authenticate with a partner API key: `Authorization: Bearer lk_live_...` (or "
            "`X-Api-Key`). Errors are RFC 9457 problem details (`application/problem+json`) "
            "with a stable `code` and per-field `errors`. Request bodies are JSON; unknown "
            "fields are refused (400). Every POST accepts an `Idempotency-Key` header. "
            "See docs/api.md for a quick start."
        ),
        "VERSION": "1.0.0",
        "SERVE_INCLUDE_SCHEMA": False,
        "SCHEMA_PATH_PREFIX": r"/api/v1",
        "COMPONENT_SPLIT_REQUEST": True,
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "programs.api.schema.postprocess_headers",
        ],
        "ENUM_NAME_OVERRIDES": {
            "AccountKindEnum": "programs.models.AccountKind",
            "AccountRoleEnum": "programs.models.AccountRole",
            "AccountStatusEnum": "programs.models.AccountStatus",
            "InvitationStatusEnum": "programs.models.InvitationStatus",
            "TransferStatusEnum": "programs.models.TransferStatus",
            "ImportKindEnum": "programs.models.ImportKind",
            "ImportApiKindEnum": "programs.api.serializers.imports.API_KINDS",
            "ImportStatusEnum": "programs.models.ImportStatus",
            "MembershipStatusEnum": "programs.models.MembershipStatus",
            "PurchaseStatusEnum": "programs.models.PurchaseStatus",
            "RedemptionStatusEnum": "programs.models.RedemptionStatus",
            "ReferralStatusEnum": "programs.models.ReferralStatus",
            "VoucherStatusEnum": "programs.vouchers.VoucherStatus",
        },
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "displayOperationId": False},
        "REDOC_DIST": "SIDECAR",
    }
