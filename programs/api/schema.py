"""OpenAPI helpers: the problem responses and examples every endpoint shares."""

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse

from programs.api.exceptions import PROBLEM_CONTENT_TYPE
from programs.api.serializers.base import INVISIBLE_CHARACTERS
from programs.api.serializers.problems import ProblemSerializer


def _example(status: int, code: str, title: str, detail: str, errors=None) -> OpenApiExample:
    value = {
        "type": f"urn:loyalty:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "instance": "/api/v1/purchases",
    }
    if errors:
        value["errors"] = errors
    return OpenApiExample(code, value=value, response_only=True, status_codes=[str(status)])


_PROBLEMS = {
    400: (
        "Invalid request: a field is missing, malformed, unknown, or an amount has too many "
        "decimals. `errors` names each field.",
        [
            _example(
                400,
                "validation_error",
                "The request is not valid.",
                "amount: Ensure that there are no more than 2 decimal places.",
                [
                    {
                        "field": "amount",
                        "pointer": "#/amount",
                        "code": "max_decimal_places",
                        "detail": "Ensure that there are no more than 2 decimal places.",
                    }
                ],
            ),
            _example(
                400,
                "parse_error",
                "The request is not valid.",
                "JSON parse error - Expecting value: line 1 column 1 (char 0)",
            ),
        ],
    ),
    401: (
        "No API key, or a key that is unknown, malformed, revoked or expired.",
        [
            _example(
                401,
                "invalid_api_key",
                "Authentication is required.",
                "The API key is not valid: it is unknown, malformed or revoked.",
            ),
            _example(
                401,
                "api_key_expired",
                "Authentication is required.",
                "The API key lk_live_ab12cd34 expired at 2027-01-31T00:00:00+00:00. Use "
                "another active key of yours, or ask the operator for a new one.",
            ),
        ],
    ),
    403: (
        "The key lacks the scope this operation needs.",
        [
            _example(
                403,
                "insufficient_scope",
                "Not allowed.",
                "This API key lacks the 'write' scope. Create a key with that scope in the admin.",
            )
        ],
    ),
    404: (
        "No such object among yours (another partner's objects are never shown).",
        [
            _example(
                404,
                "member_not_found",
                "Not found.",
                "You have no member with external id 'c-1001'.",
            )
        ],
    ),
    409: (
        "Conflict with the current state: e.g. not enough points, reward out of stock, an "
        "order id reused with other data, or a request with this Idempotency-Key still running.",
        [
            _example(
                409,
                "insufficient_points",
                "Not enough points available.",
                "This reward costs 500 points; 120 are available.",
            ),
            _example(
                409,
                "idempotency_request_in_progress",
                "Conflict.",
                "A request with this Idempotency-Key is still being processed.",
            ),
        ],
    ),
    413: ("The request body exceeds the size limit.", []),
    422: (
        "Well-formed but not possible: e.g. the member is not enrolled, a currency mismatch, "
        "or an Idempotency-Key reused for a different request.",
        [
            _example(
                422,
                "idempotency_key_reused",
                "The request cannot be carried out.",
                "This Idempotency-Key was already used for a different request.",
            )
        ],
    ),
    429: (
        "Rate limit of the API key exceeded; wait `Retry-After` seconds.",
        [
            _example(
                429,
                "throttled",
                "Too many requests.",
                "Request was throttled. Expected available in 12 seconds.",
            )
        ],
    ),
}


def problems(*statuses: int) -> dict:
    """``responses`` entries for these error statuses (401 and 429 are always added)."""
    wanted = sorted({*statuses, 401, 429})
    return {
        (status, PROBLEM_CONTENT_TYPE): OpenApiResponse(
            ProblemSerializer, description=_PROBLEMS[status][0], examples=_PROBLEMS[status][1]
        )
        for status in wanted
    }


EXTERNAL_ID = OpenApiParameter(
    "external_id",
    # Python's \s (the server's rule) also covers \x1c-\x1f and \x85; control and
    # invisible formatting characters are refused too.
    {"type": "string", "pattern": rf"^[^\s/{INVISIBLE_CHARACTERS}]{{1,100}}$"},
    OpenApiParameter.PATH,
    description="Your own id of the member (1-100 characters, no '/' or spaces).",
)
SLUG = {"type": "string", "pattern": "^[-a-zA-Z0-9_]*$", "maxLength": 50}  # empty: any
PROGRAM_QUERY = OpenApiParameter(
    "program",
    SLUG,
    OpenApiParameter.QUERY,
    required=False,
    description="A program slug: only this program.",
)
PAGINATION = [
    OpenApiParameter(
        "cursor",
        {"type": "string", "pattern": "^[A-Za-z0-9+/=_-]*$"},
        OpenApiParameter.QUERY,
        required=False,
        description="Opaque position; follow the `next` / `previous` links as given.",
    ),
    OpenApiParameter(
        "page_size",
        {"type": "integer", "minimum": 1},
        OpenApiParameter.QUERY,
        required=False,
        description="Results per page, 1 to 200 (default 50); larger values are cut to 200.",
    ),
]

_INT_HEADER = {"schema": {"type": "integer"}}
_RATE_HEADERS = {
    "X-RateLimit-Limit": {**_INT_HEADER, "description": "Requests allowed per window."},
    "X-RateLimit-Remaining": {**_INT_HEADER, "description": "Requests left in the window."},
    "X-RateLimit-Reset": {**_INT_HEADER, "description": "Unix time the window ends."},
}


# Rules between fields that the serializers check in ``validate``.
REQUEST_RULES = {
    "RefundInputRequest": {"anyOf": [{"required": ["amount"]}, {"required": ["lines"]}]},
    "MemberUpsertInputRequest": {"minProperties": 1},
    "AccountMemberUpdateInputRequest": {"minProperties": 1},
    "TransferInputRequest": {"oneOf": [{"required": ["to_member"]}, {"required": ["to_account"]}]},
}


def postprocess_strict_bodies(result, generator, request, public):
    """Request bodies refuse unknown fields (``StrictSerializer``): say so in the schema,
    with the rules between fields."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
            component.update(REQUEST_RULES.get(name, {}))
    # A body that must hold a field must be sent at all (an empty PUT is refused).
    needs_body = {f"#/components/schemas/{n}" for n, r in REQUEST_RULES.items() if r}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if body and any(
                media.get("schema", {}).get("$ref") in needs_body
                for media in body.get("content", {}).values()
            ):
                body["required"] = True
    return result


def postprocess_headers(result, generator, request, public):
    """Document the response headers: rate limits on success, ``Retry-After`` on 429 and
    on 409 (a request with the same key still running), replays on POST."""
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            for code, response in operation.get("responses", {}).items():
                headers = response.setdefault("headers", {})
                if code.startswith("2"):
                    headers.update(_RATE_HEADERS)
                    if method == "post":
                        headers["Idempotent-Replayed"] = {
                            "schema": {"type": "string", "enum": ["true"]},
                            "description": "Present when this is the stored response to an "
                            "earlier request with the same Idempotency-Key.",
                        }
                elif code in {"409", "429"}:
                    headers["Retry-After"] = {
                        **_INT_HEADER,
                        "description": "Seconds to wait before retrying.",
                    }
                if not headers:
                    del response["headers"]
    return postprocess_strict_bodies(result, generator, request, public)
