"""The ``Idempotency-Key`` header on POST requests.

With a key, a POST runs at most once per partner and key:

* the first request claims the key, runs, and its response (2xx) is stored in the same
  transaction as its work;
* a retry with the same key, method, path and body gets the stored response again, with
  ``Idempotent-Replayed: true``;
* the same key with another body, method or path: 422 ``idempotency_key_reused``;
* a retry while the first is still running: 409 ``idempotency_request_in_progress``
  (with ``Retry-After``).

A request that fails (4xx, 5xx) stores nothing and changes nothing, so its key may be
used again, e.g. after fixing the body.
"""

import json
from functools import wraps

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from loyalty_site.core.conflicts import retry_on_conflict
from programs.api.exceptions import InvalidIdempotencyKey
from programs.services.idempotency import (
    KEY_RE,
    idempotency_claim,
    idempotency_complete,
    idempotency_release,
    request_fingerprint,
)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    HEADER,
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_RE.pattern},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Optional, recommended. A unique value per operation (e.g. a UUID), 1-255 printable "
        "ASCII characters. A retry with the same key and body returns the first response "
        "(with `Idempotent-Replayed: true`); the same key with a different body is "
        "refused with 422 `idempotency_key_reused`; while the first request still runs, "
        "409 `idempotency_request_in_progress`. Keys are kept for 24 hours."
    ),
)


def _stored_body(response: Response) -> str:
    return (JSONRenderer().render(response.data) or b"null").decode()


def idempotent(handler):
    """Decorate a view's ``post`` so it honours the ``Idempotency-Key`` header."""

    @wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not KEY_RE.match(key):
            raise InvalidIdempotencyKey()
        record = idempotency_claim(
            partner=request.user.partner,
            key=key,
            method=request.method,
            path=request.get_full_path(),
            request_hash=request_fingerprint(request.method, request.get_full_path(), request.data),
        )
        if record.response_status is not None:
            return Response(
                json.loads(record.response_body),
                status=record.response_status,
                headers={REPLAYED_HEADER: "true"},
            )
        try:
            response = _run(handler, record, view, request, *args, **kwargs)
        except BaseException:
            idempotency_release(record=record)
            raise
        if response.status_code >= 400:
            idempotency_release(record=record)
        return response

    return wrapper


@retry_on_conflict
def _run(handler, record, view, request, *args, **kwargs) -> Response:
    """The request's work and its stored response, one transaction (run again after a
    deadlock: nothing of the first try was written)."""
    with transaction.atomic():
        response = handler(view, request, *args, **kwargs)
        if response.status_code < 400:
            idempotency_complete(
                record=record, status=response.status_code, body=_stored_body(response)
            )
        return response
