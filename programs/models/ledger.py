from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .membership import Membership

# Links most entries leave empty (purchases are the bulk of the ledger): indexed where set,
# for the lookups that follow them (and the PROTECT checks), so an award writes no entry
# into these indexes.
LEDGER_SPARSE_LINKS = [
    models.Index(fields=[name], condition=Q(**{f"{name}__isnull": False}), name=f"ledger_{name}")
    for name in ("redemption", "referral", "action_event", "actor_user", "hold")
]


class EntryKind(models.TextChoices):
    EARN = "earn", _("Earned")
    RELEASE = "release", _("Became available")
    REDEEM = "redeem", _("Redeemed")
    REDEEM_CANCEL = "redeem_cancel", _("Redemption cancelled")
    EXPIRE = "expire", _("Expired")
    REVERSE = "reverse", _("Reversed (return)")
    ADJUST = "adjust", _("Adjusted by staff")
    HOLD = "hold", _("Held for a payment")
    HOLD_RELEASE = "hold_release", _("Hold released")
    CAPTURE = "capture", _("Paid with points")
    CAPTURE_REFUND = "capture_refund", _("Payment with points refunded")
    MERGE_OUT = "merge_out", _("Moved to the customer's other account")
    MERGE_IN = "merge_in", _("Moved from the customer's other account")
    OPENING = "opening", _("Opening balance (imported)")
    TRANSFER_OUT = "transfer_out", _("Given to another member")
    TRANSFER_IN = "transfer_in", _("Received from another member")
    TRANSFER_BACK = "transfer_back", _("Transfer reversed")


class EntrySource(models.TextChoices):
    PURCHASE = "purchase", _("Purchase")
    ACTION = "action", _("Action")
    REFERRAL = "referral", _("Referral")
    REDEMPTION = "redemption", _("Redemption")
    STAFF = "staff", _("Staff adjustment")
    PAYMENT = "payment", _("Payment with points")
    OCCASION = "occasion", _("Birthday or anniversary")
    MERGE = "merge", _("Accounts merged")
    IMPORT = "import", _("Import")
    TRANSFER = "transfer", _("Transfer between members")
    SYSTEM = "system", _("System")


class ActorType(models.TextChoices):
    PARTNER = "partner", _("Partner")
    STAFF = "staff", _("Staff")
    CUSTOMER = "customer", _("Customer")
    SYSTEM = "system", _("System")


class LedgerEntry(models.Model):
    """One movement of points. Append-only: never updated, never deleted.

    ``points`` changes the available balance, ``pending_points`` the pending one; an earn
    during the return window moves only pending points, its release moves them across.
    ``held_points`` changes the points a partner's hold reserved: a hold moves points
    from available to held, a capture spends held points, a release moves them back.
    ``idempotency_key`` names the cause (``purchase:42:earn``), so no cause applies twice.
    ``created_at`` is when the entry was recorded, ``effective_at`` when it counts.
    """

    # Indexed by ledger_membership_recent, which it leads.
    membership = models.ForeignKey(
        Membership,
        verbose_name=_("membership"),
        on_delete=models.PROTECT,
        related_name="entries",
        db_index=False,
    )
    kind = models.CharField(_("kind"), max_length=20, choices=EntryKind.choices)
    points = models.IntegerField(_("points"), default=0)
    pending_points = models.IntegerField(_("pending points"), default=0)
    held_points = models.IntegerField(_("held points"), default=0)
    balance_after = models.BigIntegerField(_("available after"))
    pending_after = models.BigIntegerField(_("pending after"))
    source = models.CharField(_("source"), max_length=20, choices=EntrySource.choices)
    purchase = models.ForeignKey(
        "programs.Purchase", null=True, blank=True, on_delete=models.PROTECT, related_name="entries"
    )
    # Set on few entries: indexed where set only (LEDGER_SPARSE_LINKS in Meta.indexes).
    redemption = models.ForeignKey(
        "programs.Redemption",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="entries",
        db_index=False,
    )
    referral = models.ForeignKey(
        "programs.Referral",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="entries",
        db_index=False,
    )
    action_event = models.ForeignKey(
        "programs.ActionEvent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="entries",
        db_index=False,
    )
    hold = models.ForeignKey(
        "programs.PointsHold",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="entries",
        db_index=False,
    )
    actor_type = models.CharField(_("caused by"), max_length=10, choices=ActorType.choices)
    actor_partner = models.ForeignKey(
        "programs.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    reason = models.CharField(_("reason"), max_length=255, blank=True)
    # Unique through ``ledger_idempotency_key`` (a constraint, not ``unique=True``, which
    # would add a second, pattern-ops index that every insert maintains and no query uses).
    idempotency_key = models.CharField(_("idempotency key"), max_length=200)
    # The time recorded (when the entry was written) ...
    created_at = models.DateTimeField(_("when"), db_index=True)
    # ... and the time it counts in business terms: a purchase's date for its earn and
    # return entries, else the time recorded. Tiers, expiry, metrics and history read it.
    effective_at = models.DateTimeField(
        _("effective"),
        help_text=_(
            "When the entry counts in business terms (the purchase's date for its points); "
            "the time recorded is its creation time."
        ),
    )

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(points=0) | ~Q(pending_points=0) | ~Q(held_points=0),
                name="ledgerentry_moves_points",
            ),
            models.CheckConstraint(
                condition=Q(pending_after__gte=0), name="ledgerentry_pending_gte_0"
            ),
            models.UniqueConstraint(fields=["idempotency_key"], name="ledger_idempotency_key"),
        ]
        indexes = [
            models.Index(
                fields=["membership", "-effective_at", "-id"], name="ledger_membership_recent"
            ),
            models.Index(fields=["kind", "created_at"], name="ledger_kind_created"),
            *LEDGER_SPARSE_LINKS,
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.points:+d}/{self.pending_points:+d}"


class PointLot(models.Model):
    """Points from one earn entry, spent and expired independently (FIFO/FEFO)."""

    # Indexed by pointlot_membership, which it leads.
    membership = models.ForeignKey(
        Membership,
        verbose_name=_("membership"),
        on_delete=models.PROTECT,
        related_name="lots",
        db_index=False,
    )
    earn_entry = models.OneToOneField(
        LedgerEntry, verbose_name=_("earn entry"), on_delete=models.PROTECT, related_name="lot"
    )
    points = models.PositiveIntegerField(_("points earned"))
    remaining = models.IntegerField(_("points left"))
    earned_at = models.DateTimeField(_("earned"))
    available_at = models.DateTimeField(_("available from"))
    released_at = models.DateTimeField(_("released"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    expired_at = models.DateTimeField(_("expired"), null=True, blank=True)

    class Meta:
        verbose_name = _("points lot")
        verbose_name_plural = _("points lots")
        ordering = ["earned_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(remaining__gte=0), name="pointlot_remaining_gte_0"),
            models.CheckConstraint(
                condition=Q(remaining__lte=models.F("points")), name="pointlot_remaining_lte_points"
            ),
        ]
        indexes = [
            models.Index(
                fields=["available_at"],
                condition=Q(released_at__isnull=True),
                name="pointlot_to_release",
            ),
            models.Index(
                fields=["expires_at"],
                condition=Q(expired_at__isnull=True, remaining__gt=0),
                name="pointlot_to_expire",
            ),
            models.Index(fields=["membership", "released_at"], name="pointlot_membership"),
        ]

    def __str__(self) -> str:
        return f"{self.remaining}/{self.points}"


class LotAllocation(models.Model):
    """Which lots a redeem, expire or reverse entry drew from, so it can be undone exactly."""

    entry = models.ForeignKey(LedgerEntry, on_delete=models.PROTECT, related_name="allocations")
    lot = models.ForeignKey(PointLot, on_delete=models.PROTECT, related_name="allocations")
    points = models.PositiveIntegerField()

    class Meta:
        verbose_name = _("lot allocation")
        verbose_name_plural = _("lot allocations")
        constraints = [
            models.UniqueConstraint(fields=["entry", "lot"], name="lotallocation_unique"),
            models.CheckConstraint(condition=Q(points__gt=0), name="lotallocation_points_gt_0"),
        ]

    def __str__(self) -> str:
        return f"{self.points} from lot {self.lot_id}"
