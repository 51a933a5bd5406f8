from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .fields import currency_field, money_field
from .membership import Membership
from .partner import Partner


class HoldStatus(models.TextChoices):
    HELD = "held", _("Held")
    CAPTURED = "captured", _("Captured")
    VOIDED = "voided", _("Voided")
    EXPIRED = "expired", _("Expired")


class PointsHold(models.Model):
    """Points a partner reserved to pay part of an order (a two-phase debit): held, then
    captured (all or part) or voided, or expired by themselves at ``expires_at``.

    ``amount`` is the money the held points pay for, in the program's currency, at
    ``point_value`` (the program's point value when the hold was placed). The ledger
    entries of a hold (``programs.services.holds``) move its points; this row says where
    the debit stands. ``idempotency_key`` (the partner's ``Idempotency-Key``) makes a
    hold impossible to place twice; ``order_reference`` ties it to the partner's order,
    whose refunds give captured points back.
    """

    membership = models.ForeignKey(
        Membership, verbose_name=_("membership"), on_delete=models.PROTECT, related_name="holds"
    )
    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        related_name="holds",
        db_index=False,  # leads holds_unique_key
    )
    status = models.CharField(
        _("status"), max_length=10, choices=HoldStatus.choices, default=HoldStatus.HELD
    )
    points = models.IntegerField(_("points held"))
    points_captured = models.IntegerField(_("points captured"), default=0)
    points_refunded = models.IntegerField(
        _("points given back"), default=0, help_text=_("Captured points refunds gave back.")
    )
    amount = money_field(_("amount"), help_text=_("What the held points pay for."))
    captured_amount = money_field(_("amount captured"), default=0)
    currency = currency_field(_("currency"))
    point_value = models.DecimalField(_("value of one point"), max_digits=10, decimal_places=4)
    order_reference = models.CharField(_("order id"), max_length=100, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=255)
    expires_at = models.DateTimeField(_("expires"))
    created_at = models.DateTimeField(_("created"))
    captured_at = models.DateTimeField(_("captured"), null=True, blank=True)
    voided_at = models.DateTimeField(_("voided"), null=True, blank=True)
    expired_at = models.DateTimeField(_("expired"), null=True, blank=True)

    class Meta:
        verbose_name = _("points hold")
        verbose_name_plural = _("points holds")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "idempotency_key"], name="hold_unique_key"),
            models.CheckConstraint(condition=Q(points__gt=0), name="hold_points_gt_0"),
            models.CheckConstraint(
                condition=Q(points_captured__gte=0) & Q(points_captured__lte=F("points")),
                name="hold_captured_within_held",
            ),
            models.CheckConstraint(
                condition=Q(points_refunded__gte=0) & Q(points_refunded__lte=F("points_captured")),
                name="hold_refunded_within_captured",
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0)
                & Q(captured_amount__gte=0)
                & Q(captured_amount__lte=F("amount")),
                name="hold_amounts",
            ),
            models.CheckConstraint(condition=Q(point_value__gt=0), name="hold_point_value_gt_0"),
            models.CheckConstraint(
                condition=(
                    Q(
                        status=HoldStatus.HELD,
                        points_captured=0,
                        captured_at__isnull=True,
                        voided_at__isnull=True,
                        expired_at__isnull=True,
                    )
                    | Q(
                        status=HoldStatus.CAPTURED,
                        points_captured__gt=0,
                        captured_at__isnull=False,
                        voided_at__isnull=True,
                        expired_at__isnull=True,
                    )
                    | Q(
                        status=HoldStatus.VOIDED,
                        points_captured=0,
                        captured_at__isnull=True,
                        voided_at__isnull=False,
                        expired_at__isnull=True,
                    )
                    | Q(
                        status=HoldStatus.EXPIRED,
                        points_captured=0,
                        captured_at__isnull=True,
                        voided_at__isnull=True,
                        expired_at__isnull=False,
                    )
                ),
                name="hold_status_consistent",
            ),
        ]
        indexes = [
            models.Index(fields=["expires_at"], condition=Q(status="held"), name="hold_to_expire"),
            models.Index(
                fields=["partner", "order_reference"],
                condition=~Q(order_reference=""),
                name="hold_order",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.points} ({self.get_status_display()})"

    @property
    def points_held(self) -> int:
        """Points still reserved: all while held, none once captured, voided or expired."""
        return self.points if self.status == HoldStatus.HELD else 0
