"""Partner API keys and the idempotency records that make POST requests safe to retry."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .partner import Partner


class ApiKeyScope(models.TextChoices):
    READ = "read", _("Read members, balances, purchases")
    WRITE = "write", _("Enroll members, record purchases, refunds and actions")
    REDEEM = "redeem", _("Redeem rewards and cancel redemptions")


class ApiKey(models.Model):
    """A partner's secret for the REST API. Only a SHA-256 hash of the key is stored.

    The key reads ``lk_live_<8 characters>_<secret>``; the first part (``prefix``) is not
    secret: it finds the row, names the key in logs and in the admin.
    """

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(
        _("name"), max_length=100, help_text=_("What the key is for, e.g. 'web shop production'.")
    )
    prefix = models.CharField(_("prefix"), max_length=32, unique=True, editable=False)
    secret_hash = models.CharField(_("hash of the key"), max_length=64, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(
        _("expires"),
        null=True,
        blank=True,
        help_text=_(
            "Empty: the key does not expire. Rotate by creating the new key first: a "
            "partner may have several active keys."
        ),
    )
    expiry_announced_at = models.DateTimeField(
        _("expiry announced"), null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["partner", "-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix} ({self.name})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class IdempotencyState(models.TextChoices):
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETED = "completed", _("Completed")


class IdempotencyRecord(models.Model):
    """The first response to a POST with an ``Idempotency-Key``, replayed to retries.

    The row is inserted (and committed) before the request runs, so a second request with
    the same key finds it and cannot run as well; ``lock_token`` fences a request that took
    over a stale record from the one it replaced.
    """

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(_("idempotency key"), max_length=255)
    method = models.CharField(_("method"), max_length=10)
    path = models.CharField(_("path"), max_length=500)
    request_hash = models.CharField(_("request hash"), max_length=64)
    state = models.CharField(
        _("state"),
        max_length=12,
        choices=IdempotencyState.choices,
        default=IdempotencyState.IN_PROGRESS,
    )
    lock_token = models.CharField(_("lock token"), max_length=32)
    locked_at = models.DateTimeField(_("locked"))
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True)
    # JSON as text: exactly what was sent, and (unlike jsonb) it may hold an escaped NUL.
    response_body = models.TextField(_("response body"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(_("completed"), null=True)

    class Meta:
        verbose_name = _("idempotency record")
        verbose_name_plural = _("idempotency records")
        constraints = [
            models.UniqueConstraint(fields=["partner", "key"], name="idempotency_unique_key"),
            models.CheckConstraint(
                condition=Q(state="in_progress") | Q(response_status__isnull=False),
                name="idempotency_completed_has_response",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.partner_id}:{self.key} ({self.state})"


class WebhookEventType(models.TextChoices):
    POINTS_AWARDED = "points.awarded", _("Points awarded")
    TIER_CHANGED = "tier.changed", _("Tier changed")
    REWARD_REDEEMED = "reward.redeemed", _("Reward redeemed")
    REFERRAL_REWARDED = "referral.rewarded", _("Referral rewarded")
    SURVEY_RESPONDED = "survey.responded", _("Survey answered")
    PURCHASE_FAILED = "purchase.failed", _("Purchase failed")
    HOLD_CAPTURED = "hold.captured", _("Points hold captured")
    HOLD_VOIDED = "hold.voided", _("Points hold voided or expired")
    API_KEY_EXPIRING = "api_key.expiring", _("API key expiring")
    VOUCHER_USED = "voucher.used", _("Voucher used")
    MEMBER_LINKED = "member.linked", _("Member linked: the customer confirmed")
    ACCOUNT_CREATED = "account.created", _("Shared account created")
    ACCOUNT_MEMBER_JOINED = "account.member_joined", _("Member joined a shared account")
    ACCOUNT_MEMBER_LEFT = "account.member_left", _("Member left a shared account")
    ACCOUNT_CLOSED = "account.closed", _("Shared account closed")
    POINTS_TRANSFERRED = "points.transferred", _("Points given to another member")


class WebhookSubscription(models.Model):
    """Where a partner wants events sent; deliveries are signed with ``secret``."""

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(
        _("signing secret"),
        max_length=80,
        editable=False,
        help_text=_("The partner verifies each delivery's signature with it."),
    )
    events = models.JSONField(_("events"), default=list)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["partner", "url"]

    def __str__(self) -> str:
        return f"{self.partner}: {self.url}"


class WebhookEvent(models.Model):
    """The outbox: one row per event and partner, written in the transaction of the change
    that caused it, so no event is lost and none is sent for a change that rolled back."""

    event_id = models.UUIDField(_("event id"), unique=True, editable=False)
    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE, related_name="+"
    )
    type = models.CharField(_("type"), max_length=40, choices=WebhookEventType.choices)
    payload = models.JSONField(_("payload"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class WebhookDeliveryState(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed (gave up)")


class WebhookDelivery(models.Model):
    """One event to one subscription: attempted by the worker with backoff, logged."""

    event = models.ForeignKey(
        WebhookEvent, verbose_name=_("event"), on_delete=models.CASCADE, related_name="deliveries"
    )
    subscription = models.ForeignKey(
        WebhookSubscription,
        verbose_name=_("subscription"),
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    state = models.CharField(
        _("state"),
        max_length=10,
        choices=WebhookDeliveryState.choices,
        default=WebhookDeliveryState.PENDING,
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"))
    response_status = models.PositiveSmallIntegerField(_("last HTTP status"), null=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    log = models.JSONField(_("attempt log"), default=list, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "subscription"], name="webhookdelivery_unique"
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(state="pending"),
                name="webhookdelivery_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} -> {self.subscription_id} ({self.state})"
