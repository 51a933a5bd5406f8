"""Every API error as RFC 9457 problem details, translated here and nowhere else.

    {"type": "urn:loyalty:problem:validation_error", "title": "...", "status": 400,
     "detail": "...", "code": "validation_error", "instance": "/api/v1/purchases",
     "errors": [{"field": "amount", "pointer": "#/amount", "code": "max_decimal_places",
                 "detail": "..."}]}

Domain errors (``programs.errors.LoyaltyError``) keep their own status and code. An
exception that is neither a domain nor a DRF error is a bug: it is not dressed up here,
so it reaches Django's error handling and the logs as a 500.
"""

import math
from collections.abc import Iterator

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils import translation
from django.utils.encoding import force_str
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from programs.errors import LoyaltyError

PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:loyalty:problem:"
_RESERVED = {"type", "title", "status", "detail", "code", "instance", "errors", "field"}

TITLES = {
    400: _("The request is not valid."),
    401: _("Authentication is required."),
    403: _("Not allowed."),
    404: _("Not found."),
    405: _("Method not allowed."),
    406: _("Not acceptable."),
    409: _("Conflict."),
    413: _("Request body too large."),
    415: _("Unsupported media type."),
    422: _("The request cannot be carried out."),
    429: _("Too many requests."),
}


class MemberNotEnrolled(LoyaltyError):
    code = "not_enrolled"
    status = 422
    default_message = _("The member is not enrolled in this program.")


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = _("The request body is too large.")
    default_code = "payload_too_large"


class InvalidIdempotencyKey(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = _(
        "The Idempotency-Key header must be 1 to 255 printable ASCII characters without spaces."
    )
    default_code = "invalid_idempotency_key"


def problem(
    *,
    status_code: int,
    code: str,
    detail: str,
    title: str | None = None,
    errors: list[dict] | None = None,
    instance: str | None = None,
    extra: dict | None = None,
) -> dict:
    body = {
        "type": TYPE_PREFIX + code,
        "title": force_str(title or TITLES.get(status_code, _("Error."))),
        "status": status_code,
        "detail": force_str(detail),
        "code": code,
    }
    if instance:
        body["instance"] = instance
    if errors:
        body["errors"] = errors
    for name, value in (extra or {}).items():
        if name not in _RESERVED and isinstance(value, str | int | float | bool | type(None)):
            body[name] = value
    return body


def field_error(path: tuple, code: str, message: str) -> dict:
    parts = [str(p) for p in path if p != "non_field_errors"]
    return {
        "field": ".".join(parts),
        "pointer": "#/" + "/".join(parts) if parts else "#",
        "code": code,
        "detail": force_str(message),
    }


def _flatten(detail, path: tuple = ()) -> Iterator[dict]:
    if isinstance(detail, dict):
        for name, value in detail.items():
            yield from _flatten(value, (*path, name))
    elif isinstance(detail, list):
        for index, item in enumerate(detail):
            if isinstance(item, dict | list):
                yield from _flatten(item, (*path, index))
            else:
                yield from _flatten(item, path)
    else:
        yield field_error(path, getattr(detail, "code", None) or "invalid", str(detail))


def validation_errors(detail) -> list[dict]:
    return list(_flatten(detail))


def validation_summary(errors: list[dict]) -> str:
    if not errors:
        return "The request is not valid."
    first = errors[0]
    text = f"{first['field']}: {first['detail']}" if first["field"] else first["detail"]
    more = len(errors) - 1
    return f"{text} (and {more} more error{'s' if more > 1 else ''})" if more else text


def loyalty_problem(exc: LoyaltyError, instance: str | None = None) -> dict:
    details = dict(exc.details)
    field = details.pop("field", None)
    errors = [field_error((field,), exc.code, exc.message)] if field else None
    return problem(
        status_code=exc.status,
        code=exc.code,
        title=type(exc).default_message,
        detail=exc.message,
        errors=errors,
        instance=instance,
        extra=details,
    )


def exception_problem(exc, instance: str | None = None) -> tuple[dict, dict] | None:
    """(problem body, headers) for a domain or DRF exception; None for anything else."""
    if isinstance(exc, LoyaltyError):
        headers = {"Retry-After": "1"} if exc.code == "idempotency_request_in_progress" else {}
        return loyalty_problem(exc, instance), headers
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        headers["Retry-After"] = str(math.ceil(exc.wait))
    if isinstance(exc, exceptions.ValidationError):
        errors = validation_errors(exc.detail)
        body = problem(
            status_code=exc.status_code,
            code="validation_error",
            detail=validation_summary(errors),
            errors=errors,
            instance=instance,
        )
        return body, headers
    code = exc.detail.code if hasattr(exc.detail, "code") else exc.default_code
    body = problem(
        status_code=exc.status_code, code=code, detail=str(exc.detail), instance=instance
    )
    return body, headers


def problem_language(request) -> str:
    """English unless the client asked for a language in Accept-Language.

    Without the header LocaleMiddleware falls back to LANGUAGE_CODE ("de"), and domain
    errors and titles are lazy texts with a German catalogue: an integration would get
    German texts it never asked for, also from errors raised before
    ``PartnerAPIView.initial`` switches to English (unknown endpoints, for one).
    """
    if request is None or not request.META.get("HTTP_ACCEPT_LANGUAGE"):
        return "en"
    return translation.get_language() or "en"


def problem_exception_handler(exc, context):
    """DRF ``EXCEPTION_HANDLER``: problem details for every error DRF or a service raises."""
    request = context.get("request")
    instance = request.path if request is not None else None
    with translation.override(problem_language(request)):
        result = exception_problem(exc, instance)
    if result is None:
        return None
    body, headers = result
    set_rollback()
    return Response(body, status=body["status"], headers=headers, content_type=PROBLEM_CONTENT_TYPE)
