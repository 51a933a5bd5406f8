from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .membership import Membership
from .program import Program, Tier


class Reward(models.Model):
    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="rewards")
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    points_cost = models.PositiveIntegerField(_("points"))
    stock = models.IntegerField(_("stock"), null=True, blank=True, help_text=_("Empty: unlimited."))
    min_tier = models.ForeignKey(
        Tier,
        verbose_name=_("minimum tier"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    active_from = models.DateTimeField(_("available from"), null=True, blank=True)
    active_until = models.DateTimeField(_("available until"), null=True, blank=True)
    per_member_limit = models.PositiveIntegerField(
        _("limit per member"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    voucher_valid_days = models.PositiveIntegerField(
        _("voucher valid for (days)"),
        null=True,
        blank=True,
        help_text=_("Days a voucher can be used after it was redeemed. Empty: no expiry."),
    )

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["program", "points_cost"]
        constraints = [
            models.CheckConstraint(condition=Q(points_cost__gt=0), name="reward_cost_gt_0"),
            models.CheckConstraint(
                condition=Q(stock__isnull=True) | Q(stock__gte=0), name="reward_stock_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RedemptionStatus(models.TextChoices):
    ISSUED = "issued", _("Issued")
    USED = "used", _("Used")
    CANCELLED = "cancelled", _("Cancelled")


class Redemption(models.Model):
    membership = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="redemptions")
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions")
    points = models.PositiveIntegerField(_("points"))
    voucher_code = models.CharField(_("voucher code"), max_length=32, unique=True)
    # Redeemed from a shared account's balance by this member.
    placed_by = models.ForeignKey(
        Membership,
        verbose_name=_("redeemed by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="redemptions_placed",
        db_index=False,
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=RedemptionStatus.choices,
        default=RedemptionStatus.ISSUED,
    )
    # Not auto_now_add: a history being loaded (the demo) dates a redemption in the past.
    created_at = models.DateTimeField(_("redeemed"), default=timezone.now, editable=False)
    expires_at = models.DateTimeField(_("valid until"), null=True, blank=True)
    used_at = models.DateTimeField(_("used"), null=True, blank=True)
    used_by_partner = models.ForeignKey(
        "programs.Partner",
        verbose_name=_("used at partner"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["membership", "reward"], name="redemption_member_reward")]

    def __str__(self) -> str:
        return f"{self.reward} ({self.voucher_code})"
