from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .fields import currency_field, money_field
from .membership import Membership
from .partner import Partner
from .program import Program


class PurchaseStatus(models.TextChoices):
    RECEIVED = "received", _("Received, points not yet awarded")
    AWARDED = "awarded", _("Points awarded")
    REJECTED = "rejected", _("Rejected")
    FAILED = "failed", _("Failed: points could not be awarded")


class Purchase(models.Model):
    """A purchase reported by a partner. Points are awarded by the worker, exactly once."""

    # No single-column indexes on the three: each leads a composite index below (the
    # partner the unique order constraint), and every award rewrites the purchase row.
    program = models.ForeignKey(
        Program,
        verbose_name=_("program"),
        on_delete=models.PROTECT,
        related_name="purchases",
        db_index=False,
    )
    membership = models.ForeignKey(
        Membership,
        verbose_name=_("membership"),
        on_delete=models.PROTECT,
        related_name="purchases",
        db_index=False,
    )
    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        related_name="purchases",
        db_index=False,
    )
    order_id = models.CharField(_("order id"), max_length=100)
    # A shared account's purchase: recorded on the account's holder, made by this member.
    # Indexed where set only (few purchases are).
    placed_by = models.ForeignKey(
        Membership,
        verbose_name=_("made by"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="purchases_placed",
        db_index=False,
    )
    po_reference = models.CharField(
        _("purchase order number"), max_length=100, blank=True, default="", db_default=""
    )
    amount = money_field(_("amount"))
    currency = currency_field(_("currency"))
    occurred_at = models.DateTimeField(_("purchased at"))
    status = models.CharField(
        _("status"), max_length=10, choices=PurchaseStatus.choices, default=PurchaseStatus.RECEIVED
    )
    status_reason = models.CharField(_("status reason"), max_length=255, blank=True)
    # db_default too: the batch ingest inserts rows with SQL that does not name the column
    failure_reason = models.TextField(
        _("failure reason"),
        blank=True,
        default="",
        db_default="",
        help_text=_("Why the points could not be awarded (status failed)."),
    )
    points_expected = models.IntegerField(_("points expected"), default=0)
    points_awarded = models.IntegerField(_("points awarded"), null=True, blank=True)
    breakdown = models.JSONField(_("points breakdown"), default=dict, blank=True)
    refunded_amount = money_field(_("refunded"), default=0)
    points_reversed = models.IntegerField(
        _("points settled by returns"),
        default=0,
        help_text=_("Points the returns took back, or let the customer keep under the policy."),
    )
    # Signals a partner may send for referral fraud checks.
    payment_fingerprint = models.CharField(_("payment fingerprint"), max_length=128, blank=True)
    device_id = models.CharField(_("device id"), max_length=128, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "order_id"], name="purchase_unique_order"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="purchase_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("amount")),
                name="purchase_refund_within_amount",
            ),
        ]
        indexes = [
            models.Index(
                fields=["received_at"],
                condition=Q(status="received"),
                name="purchase_unprocessed",
            ),
            models.Index(fields=["membership", "occurred_at"], name="purchase_membership_time"),
            models.Index(fields=["program", "occurred_at"], name="purchase_program_time"),
            models.Index(
                fields=["placed_by", "occurred_at"],
                condition=Q(placed_by__isnull=False),
                name="purchase_placed_by",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} ({self.amount} {self.currency})"

    # A purchase just written knows its lines and that it has no refunds yet: the API's
    # answer to a new purchase needs no query to read them back.
    def written_with(self, lines: list["PurchaseLine"]) -> None:
        self._written_lines = list(lines)

    @property
    def line_list(self) -> list["PurchaseLine"]:
        written = getattr(self, "_written_lines", None)
        return written if written is not None else list(self.lines.all())

    @property
    def refund_list(self) -> list["Refund"]:
        if getattr(self, "_written_lines", None) is not None:
            return []
        return list(self.refunds.all())

    @property
    def net_amount(self):
        return self.amount - self.refunded_amount


class PurchaseLine(models.Model):
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveSmallIntegerField(_("line"))
    sku = models.CharField(_("SKU"), max_length=64, blank=True)
    category = models.CharField(_("category"), max_length=64, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"), default=1)
    unit_price = money_field(_("unit price"))
    amount = money_field(_("line total"))
    refunded_quantity = models.PositiveIntegerField(_("returned quantity"), default=0)
    points = models.DecimalField(
        _("points share"),
        max_digits=14,
        decimal_places=4,
        default=0,
        help_text=_("This line's share of the purchase's points, before rounding."),
    )

    class Meta:
        verbose_name = _("purchase line")
        verbose_name_plural = _("purchase lines")
        ordering = ["purchase", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["purchase", "line_no"], name="purchaseline_unique_no"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="purchaseline_quantity_gt_0"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="purchaseline_amount_gte_0"),
            models.CheckConstraint(
                condition=Q(refunded_quantity__lte=F("quantity")),
                name="purchaseline_refund_within_quantity",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.line_no}: {self.sku or self.category} x{self.quantity}"


class Refund(models.Model):
    """A full or partial return. ``refund_id`` (the partner's) makes it idempotent."""

    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, related_name="refunds")
    refund_id = models.CharField(_("refund id"), max_length=100)
    amount = money_field(_("amount"))
    lines = models.JSONField(_("returned lines"), default=list, blank=True)
    points_reversed = models.IntegerField(_("points reversed"), default=0)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["purchase", "refund_id"], name="refund_unique_id"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.refund_id} ({self.amount})"
