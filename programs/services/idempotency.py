"""Idempotency keys for partner POST requests.

``idempotency_claim`` inserts the record *before* the request runs, in a transaction of
its own, so a concurrent request with the same key finds it and is refused; the request's
work and ``idempotency_complete`` then commit together. A record left "in progress" by a
crashed process (its work was rolled back with it) may be taken over after
``STALE_AFTER``; the lock token fences the old holder, whose completion then fails and
rolls its work back, so two holders can never both commit.
"""

import hashlib
import json
import re
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from programs.errors import LoyaltyError
from programs.models import IdempotencyRecord, IdempotencyState, Partner

STALE_AFTER = timedelta(minutes=5)
KEEP_FOR = timedelta(hours=24)
KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")


class IdempotencyKeyReused(LoyaltyError):
    code = "idempotency_key_reused"
    status = 422
    default_message = _(
        "This Idempotency-Key was already used for a different request (another body, "
        "method or path). Use a new key for a new request."
    )


class IdempotencyRequestInProgress(LoyaltyError):
    code = "idempotency_request_in_progress"
    status = 409
    default_message = _(
        "A request with this Idempotency-Key is still being processed. Retry in a moment "
        "to receive its response."
    )


def _canonical(value) -> str:
    """An uploaded file (a multipart body) by its content, not just its name."""
    if hasattr(value, "chunks") and hasattr(value, "seek"):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return f"file:{digest.hexdigest()}"
    return str(value)


def request_fingerprint(method: str, path: str, data) -> str:
    """SHA-256 over the method, path and the canonical JSON of the parsed body, so key
    order and whitespace do not make the same request look different."""
    body = json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_canonical
    )
    return hashlib.sha256(f"{method.upper()} {path}\n{body}".encode()).hexdigest()


def idempotency_claim(
    *, partner: Partner, key: str, method: str, path: str, request_hash: str, now=None
) -> IdempotencyRecord:
    """Claim ``key`` for this request. Returns the record: ``in_progress`` (claimed, run
    the request) or ``completed`` (replay its response). Raises ``IdempotencyKeyReused``
    for another request under the same key, ``IdempotencyRequestInProgress`` while the
    first request with this key is still running."""
    now = now or timezone.now()
    token = secrets.token_hex(16)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    partner=partner,
                    key=key,
                    method=method.upper(),
                    path=path[:500],
                    request_hash=request_hash,
                    lock_token=token,
                    locked_at=now,
                )
        except IntegrityError:
            record = IdempotencyRecord.objects.filter(partner=partner, key=key).first()
        if record is None:  # released by a failed request in between: claim again
            continue
        if (record.method, record.path, record.request_hash) != (
            method.upper(),
            path[:500],
            request_hash,
        ):
            raise IdempotencyKeyReused()
        if record.state == IdempotencyState.COMPLETED:
            return record
        if record.locked_at <= now - STALE_AFTER:
            taken = IdempotencyRecord.objects.filter(
                pk=record.pk, state=IdempotencyState.IN_PROGRESS, lock_token=record.lock_token
            ).update(lock_token=token, locked_at=now)
            if taken:
                record.lock_token, record.locked_at = token, now
                return record
            continue
        raise IdempotencyRequestInProgress()
    raise IdempotencyRequestInProgress()


def idempotency_complete(*, record: IdempotencyRecord, status: int, body: str) -> None:
    """Store the response. Call inside the transaction that did the request's work: if
    the claim was lost meanwhile, this raises and the work rolls back."""
    updated = IdempotencyRecord.objects.filter(
        pk=record.pk, state=IdempotencyState.IN_PROGRESS, lock_token=record.lock_token
    ).update(
        state=IdempotencyState.COMPLETED,
        response_status=status,
        response_body=body,
        completed_at=timezone.now(),
    )
    if updated != 1:
        raise IdempotencyRequestInProgress()
    record.state, record.response_status, record.response_body = (
        IdempotencyState.COMPLETED,
        status,
        body,
    )


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """Forget a claim whose request failed (nothing was done), so the key can be retried."""
    IdempotencyRecord.objects.filter(
        pk=record.pk, state=IdempotencyState.IN_PROGRESS, lock_token=record.lock_token
    ).delete()


def idempotency_records_purge(*, now=None, keep_for: timedelta = KEEP_FOR) -> int:
    """Delete records older than ``keep_for``; their keys may then be used afresh."""
    now = now or timezone.now()
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=now - keep_for).delete()
    return deleted
