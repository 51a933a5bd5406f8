from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .membership import Membership
from .program import Program


class ReferralStatus(models.TextChoices):
    SIGNED_UP = "signed_up", _("Signed up")
    REVIEW = "review", _("Waiting for review")
    QUALIFIED = "qualified", _("Purchased; reward held for the return window")
    REWARDED = "rewarded", _("Rewarded")
    REJECTED = "rejected", _("Rejected")


class RiskVerdict(models.TextChoices):
    CLEAR = "clear", _("Clear")
    SUSPICIOUS = "suspicious", _("Suspicious")
    BLOCKED = "blocked", _("Blocked")


class Referral(models.Model):
    program = models.ForeignKey(Program, on_delete=models.PROTECT, related_name="referrals")
    referrer = models.ForeignKey(
        Membership, on_delete=models.PROTECT, related_name="referrals_made"
    )
    referee = models.OneToOneField(
        Membership, on_delete=models.PROTECT, related_name="referral_received"
    )
    status = models.CharField(_("status"), max_length=12, choices=ReferralStatus.choices)
    risk = models.CharField(_("risk verdict"), max_length=12, choices=RiskVerdict.choices)
    risk_reasons = models.JSONField(_("risk reasons"), default=list, blank=True)
    signup_ip = models.GenericIPAddressField(_("sign-up IP"), null=True, blank=True)
    signup_device_id = models.CharField(_("sign-up device"), max_length=128, blank=True)
    qualifying_purchase = models.OneToOneField(
        "programs.Purchase",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="referral_qualified",
    )
    release_at = models.DateTimeField(_("referrer reward due"), null=True, blank=True)
    rewarded_at = models.DateTimeField(_("rewarded"), null=True, blank=True)
    rejection_reason = models.CharField(_("rejection reason"), max_length=255, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["referrer", "status"], name="referral_referrer_status"),
            models.Index(fields=["status", "release_at"], name="referral_release"),
        ]

    def __str__(self) -> str:
        return f"{self.referrer} -> {self.referee}"
