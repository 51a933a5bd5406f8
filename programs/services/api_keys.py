"""Partner API keys: created with the plaintext shown once, stored as a hash, revocable.

A key reads ``lk_live_<8 characters>_<43 characters>``. The first 16 characters are the
prefix: stored in clear, unique, used to find the row and to name the key in logs. The
rest is 32 random bytes, so a plain SHA-256 of the whole key is a safe digest (no
password-hashing work factor is needed for a secret nobody chose).

Authentication reads the key row (with its partner) from Django's cache for up to
``CACHE_SECONDS``, so a hot API request costs no query for it. The plaintext is still
checked against the stored hash on every request. Revoking a key removes it from the cache
at once; other changes (scopes edited in the admin, a partner deactivated) take effect
within ``CACHE_SECONDS``. While the cache is unreachable every request reads the key from
the database, so a key revoked then is refused at once too (a copy cached before the outage
could live on for at most ``CACHE_SECONDS`` if the same cache comes back that soon).

A check takes the same work whatever the key: the hash is computed and compared for
every well-formed or malformed key (against a stand-in hash when the prefix is unknown),
and an unknown prefix is remembered in the cache for ``UNKNOWN_SECONDS``, so guessing
prefixes costs no query and tells nothing by its timing. Only a key whose secret matches
learns that it expired.

Keys may expire (``expires_at``): ``api_keys_expiry_announce`` tells the partner by the
``api_key.expiring`` webhook ``ANNOUNCE_DAYS`` ahead, and the admin lists it.
"""

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from loyalty_site.core.cache import cache_delete, cache_get, cache_set
from programs.models import ApiKey, ApiKeyScope, Partner, WebhookEventType
from programs.services.webhook_events import partner_event_emit

KEY_PREFIX = "lk_live_"
_PREFIX_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
_KEY_RE = re.compile(r"^(lk_live_[a-z0-9]{8})_([A-Za-z0-9_-]{43})$")
TOUCH_INTERVAL = timedelta(minutes=1)
CACHE_SECONDS = 10
UNKNOWN_SECONDS = 60
ANNOUNCE_DAYS = 14
_UNKNOWN = "unknown"  # cached for a prefix no key has


def _cache_key(prefix: str) -> str:
    return f"api_key:{prefix}"


def api_key_forget(prefix: str) -> None:
    """Drop a key from the authentication cache (the next request reads the database)."""
    cache_delete(_cache_key(prefix))


def api_key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def api_key_prefix_of(plaintext: str) -> str | None:
    """The prefix of a well-formed key, or None. Safe to log."""
    match = _KEY_RE.match(plaintext)
    return match.group(1) if match else None


def scopes_clean(scopes: Iterable[str]) -> list[str]:
    chosen = {s.strip() for s in scopes if s and s.strip()}
    unknown = chosen - set(ApiKeyScope.values)
    if unknown:
        raise ValueError(
            f"Unknown scope(s): {', '.join(sorted(unknown))}. "
            f"Choose from {', '.join(ApiKeyScope.values)}."
        )
    if not chosen:
        raise ValueError("Give at least one scope.")
    return [s for s in ApiKeyScope.values if s in chosen]


def api_key_create(
    *, partner: Partner, name: str, scopes: Iterable[str], created_by=None, expires_at=None
) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is never stored or shown again."""
    clean_scopes = scopes_clean(scopes)
    for _attempt in range(5):
        prefix = KEY_PREFIX + "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
        plaintext = f"{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    partner=partner,
                    name=name.strip() or "API key",
                    prefix=prefix,
                    secret_hash=api_key_hash(plaintext),
                    scopes=clean_scopes,
                    created_by=created_by,
                    expires_at=expires_at,
                )
        except IntegrityError:  # prefix collision: draw again
            continue
        api_keys_changed([prefix])  # a guess of this prefix may be cached as unknown
        return key, plaintext
    raise RuntimeError("could not generate a unique API key prefix")


def api_keys_changed(prefixes: Iterable[str]) -> None:
    """A key or its partner changed (scopes, active flag): drop the cached copies now, and
    again after the commit, since a request may re-cache the old row in between."""
    prefixes = list(prefixes)

    def forget() -> None:
        for prefix in prefixes:
            api_key_forget(prefix)

    forget()
    transaction.on_commit(forget)


def api_key_revoke(*, api_key: ApiKey) -> bool:
    """Revoke the key at once. Returns False if it was already revoked."""
    now = timezone.now()
    updated = ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=now)
    if updated:
        api_key.revoked_at = now
    api_keys_changed([api_key.prefix])
    return bool(updated)


class KeyRefused(Exception):
    """Why a key was refused: ``expired`` only for a key whose secret matched."""

    def __init__(self, reason: str, api_key: ApiKey | None = None):
        super().__init__(reason)
        self.reason = reason
        self.api_key = api_key


_STAND_IN_HASH = api_key_hash(f"{KEY_PREFIX}xxxxxxxx_{'x' * 43}")


def _key_for(prefix: str | None) -> ApiKey | None:
    if prefix is None:
        return None
    cached = cache_get(_cache_key(prefix))
    if cached == _UNKNOWN:
        return None
    if cached is not None:
        return cached
    key = ApiKey.objects.select_related("partner").filter(prefix=prefix).first()
    cache_set(
        _cache_key(prefix),
        key if key is not None else _UNKNOWN,
        CACHE_SECONDS if key is not None else UNKNOWN_SECONDS,
    )
    return key


def api_key_authenticate(plaintext: str) -> ApiKey | None:
    """The active key matching ``plaintext``, or None (``api_key_check`` says why)."""
    try:
        return api_key_check(plaintext)
    except KeyRefused:
        return None


def api_key_check(plaintext: str, now=None) -> ApiKey:
    """The active key of an active partner matching ``plaintext``; ``KeyRefused`` with
    reason ``invalid`` (unknown, malformed, wrong secret, revoked, partner inactive) or
    ``expired``."""
    digest = api_key_hash(plaintext)
    key = _key_for(api_key_prefix_of(plaintext))
    matches = hmac.compare_digest(key.secret_hash if key else _STAND_IN_HASH, digest)
    if key is None or not matches:
        raise KeyRefused("invalid")
    if key.revoked_at is not None or not key.partner.is_active:
        raise KeyRefused("invalid")
    if key.expires_at is not None and key.expires_at <= (now or timezone.now()):
        raise KeyRefused("expired", key)
    api_key_touch(key)
    return key


def api_keys_expiring(*, now=None) -> list[ApiKey]:
    """Active keys that expire within ``ANNOUNCE_DAYS`` and were not announced yet."""
    now = now or timezone.now()
    return list(
        ApiKey.objects.select_related("partner").filter(
            revoked_at__isnull=True,
            expiry_announced_at__isnull=True,
            expires_at__gt=now,
            expires_at__lte=now + timedelta(days=ANNOUNCE_DAYS),
        )
    )


def api_keys_expiry_announce(*, now=None) -> int:
    """Tell each partner by webhook (``api_key.expiring``) about its keys that expire
    within ``ANNOUNCE_DAYS``, once per key. Returns the number of keys announced."""
    now = now or timezone.now()
    announced = 0
    for key in api_keys_expiring(now=now):
        with transaction.atomic():
            claimed = ApiKey.objects.filter(pk=key.pk, expiry_announced_at__isnull=True).update(
                expiry_announced_at=now
            )
            if not claimed:
                continue  # another run announced it
            partner_event_emit(
                partner=key.partner,
                type=WebhookEventType.API_KEY_EXPIRING,
                data={
                    "key": key.prefix,
                    "name": key.name,
                    "expires_at": key.expires_at.isoformat(),
                },
                at=now,
            )
        api_key_forget(key.prefix)
        announced += 1
    return announced


def api_key_touch(api_key: ApiKey, now=None) -> None:
    """Record use, at most once per minute per key (a conditional update, no read)."""
    now = now or timezone.now()
    if api_key.last_used_at and api_key.last_used_at > now - TOUCH_INTERVAL:
        return
    ApiKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - TOUCH_INTERVAL), pk=api_key.pk
    ).update(last_used_at=now)
    api_key.last_used_at = now
    api_key_forget(api_key.prefix)  # the cached copy has the old time
