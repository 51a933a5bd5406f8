"""Every answer under ``/api/`` that is an error is RFC 9457 problem details.

The API's views raise errors that ``problem_exception_handler`` turns into problem details.
What never reaches it gets the same shape here: Django's HTML 404 for a path no route takes
(an encoded newline, ``/api/anything``), an error answer another view or middleware built
(the schema view's YAML 405, a 400 for a bad Host header), an unhandled exception (500,
logged with its traceback and announced through ``got_request_exception`` as Django does),
and an unreachable database (503 with ``Retry-After``). Installed first in ``MIDDLEWARE``,
so it sees every answer.
"""

import json
import logging

from django.core import signals
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import JsonResponse
from django.utils import translation

from loyalty_site.core.outage import API_PREFIX, RETRY_AFTER_SECONDS, database_unavailable
from programs.api.exceptions import PROBLEM_CONTENT_TYPE, problem, problem_language

logger = logging.getLogger("programs.api")

# code and detail per status for answers that came without problem details
_GENERIC = {
    400: ("bad_request", "The request is not valid."),
    401: ("not_authenticated", "Authentication is required."),
    403: ("permission_denied", "Not allowed."),
    404: ("endpoint_not_found", "No endpoint at {path}. See /api/docs/ for the API."),
    405: ("method_not_allowed", "Method {method} is not allowed at {path}."),
    413: ("payload_too_large", "The request body is too large."),
    415: ("unsupported_media_type", "Send the request body as application/json."),
    500: ("server_error", "The server could not handle the request. It has been logged."),
    503: ("service_unavailable", "The service is unavailable. Retry later."),
}
# headers of the original answer worth keeping on its replacement
_KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")
DATABASE_DETAIL = (
    "The database cannot be reached right now; retry in {seconds} seconds. Repeating a "
    "request is safe: a repeated order id, refund id or Idempotency-Key is not counted twice."
)


def _is_problem(response) -> bool:
    if not response.get("Content-Type", "").startswith(PROBLEM_CONTENT_TYPE):
        return False
    if getattr(response, "streaming", False):
        return False
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("status") == response.status_code


def problem_response(request, status: int, *, code=None, detail=None, headers=None):
    generic_code, generic_detail = _GENERIC.get(status, ("error", "The request failed."))
    with translation.override(problem_language(request)):
        body = problem(
            status_code=status,
            code=code or generic_code,
            detail=detail or generic_detail.format(path=request.path, method=request.method),
            instance=request.path,
        )
    response = JsonResponse(body, status=status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class ProblemDetailsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith(API_PREFIX)
            or _is_problem(response)
        ):
            return response
        kept = {name: response[name] for name in _KEPT_HEADERS if response.has_header(name)}
        return problem_response(request, response.status_code, headers=kept)

    def process_exception(self, request, exception):
        if not request.path.startswith(API_PREFIX):
            return None
        if database_unavailable(exception):
            logger.warning(
                "api %s %s: database unavailable: %s", request.method, request.path, exception
            )
            return problem_response(
                request,
                503,
                code="database_unavailable",
                detail=DATABASE_DETAIL.format(seconds=RETRY_AFTER_SECONDS),
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        if isinstance(exception, RequestDataTooBig | TooManyFieldsSent):
            return problem_response(request, 413)
        if isinstance(exception, SuspiciousOperation):
            return problem_response(request, 400, detail=str(exception) or None)
        logger.error(
            "Internal Server Error: %s",
            request.path,
            exc_info=exception,
            extra={"status_code": 500, "request": request},
        )
        signals.got_request_exception.send(sender=None, request=request)
        return problem_response(request, 500)
