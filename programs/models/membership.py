from django.conf import settings
from django.db import models
from django.db.models import Func, Q
from django.utils.translation import gettext_lazy as _

from .program import Program, Tier


class MembershipStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    CLOSED = "closed", _("Closed")


class Membership(models.Model):
    """A customer in one program: balances, tier, referral code.

    ``balance``, ``debt``, ``pending`` and ``held`` are caches of the ledger (64-bit, like
    every sum of points), written only by ``programs.services.postings``: sum(entry.points)
    == balance - debt, sum(entry.pending_points) == pending and sum(entry.held_points) ==
    held (points reserved by a partner's hold, out of the available balance), always.
    ``tier`` is the effective tier, derived from the qualified tier, an active staff
    override, an active subscription and the tier of the member's shared account.
    """

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.PROTECT,
        related_name="memberships",
    )
    program = models.ForeignKey(
        Program, verbose_name=_("program"), on_delete=models.PROTECT, related_name="memberships"
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=MembershipStatus.choices,
        default=MembershipStatus.ACTIVE,
    )
    joined_at = models.DateTimeField(_("joined"))
    referral_code = models.CharField(_("referral code"), max_length=16, unique=True)
    # Drawn by the database on insert (``programs_card_number()``, migration 0013): 15
    # random digits and a Luhn check digit, unique across the platform, so every insert
    # path (enrolment, bulk loads, COPY) gets one. It identifies a member at a till; it does
    # not authorise spending (``CardProof``).
    card_number = models.CharField(
        _("card number"),
        max_length=16,
        unique=True,
        editable=False,
        db_default=Func(function="programs_card_number", output_field=models.CharField()),
    )

    balance = models.BigIntegerField(_("available points"), default=0, editable=False)
    debt = models.BigIntegerField(
        _("negative balance"),
        default=0,
        editable=False,
        help_text=_("Points owed after returns of spent points; blocks redemptions."),
    )
    pending = models.BigIntegerField(_("pending points"), default=0, editable=False)
    held = models.BigIntegerField(
        _("points held"),
        default=0,
        editable=False,
        help_text=_("Reserved by a partner to pay an order; not available until released."),
    )
    lifetime_earned = models.BigIntegerField(_("points earned in total"), default=0, editable=False)
    last_activity_at = models.DateTimeField(_("last activity"), null=True, blank=True)

    tier = models.ForeignKey(
        Tier,
        verbose_name=_("tier"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    qualified_tier = models.ForeignKey(
        Tier,
        verbose_name=_("qualified tier"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    qualified_tier_since = models.DateTimeField(_("qualified since"), null=True, editable=False)
    tier_review_at = models.DateTimeField(
        _("tier re-evaluated on"),
        null=True,
        editable=False,
        help_text=_("End of the qualification period; downgrades happen only then."),
    )
    override_tier = models.ForeignKey(
        Tier,
        verbose_name=_("tier set by staff"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    override_until = models.DateTimeField(_("staff tier until"), null=True, editable=False)
    subscription_tier = models.ForeignKey(
        Tier,
        verbose_name=_("subscribed tier"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    subscription_until = models.DateTimeField(
        _("subscription paid until"), null=True, editable=False
    )
    # The tier of the shared account the membership belongs to: the member enjoys at least
    # it (``programs.services.account_tiers``).
    account_tier = models.ForeignKey(
        Tier,
        verbose_name=_("shared account's tier"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        db_index=False,  # never looked up by; few are set
    )

    # Set when the customer confirmed that this membership's customer is them
    # (``programs.services.link_claims``): its points, lots and purchases moved there.
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="merged_from",
    )
    # Set while the membership belongs to a shared account that pools its points: its
    # purchases are recorded on the account's holder (``programs.models.accounts``).
    pool = models.ForeignKey(
        "self",
        verbose_name=_("earns into"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="pooled_members",
        db_index=False,  # few are set: indexed where set (membership_pool)
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    # Not indexed: every award changes it, and an index on it would keep the update from
    # being HOT (the partner API's "updated since" filter reads it per customer, found
    # through membership_unique).
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["-joined_at"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "program"], name="membership_unique"),
            models.CheckConstraint(condition=Q(balance__gte=0), name="membership_balance_gte_0"),
            models.CheckConstraint(condition=Q(debt__gte=0), name="membership_debt_gte_0"),
            models.CheckConstraint(condition=Q(pending__gte=0), name="membership_pending_gte_0"),
            models.CheckConstraint(condition=Q(held__gte=0), name="membership_held_gte_0"),
            models.CheckConstraint(
                condition=Q(balance=0) | Q(debt=0), name="membership_balance_or_debt"
            ),
        ]
        indexes = [
            models.Index(fields=["program", "tier"], name="membership_program_tier"),
            models.Index(fields=["tier_review_at"], name="membership_tier_review"),
            models.Index(fields=["pool"], condition=Q(pool__isnull=False), name="membership_pool"),
        ]

    def __str__(self) -> str:
        return f"{self.customer} @ {self.program}"

    @property
    def available(self) -> int:
        """Spendable points; negative while a debt is open."""
        return self.balance - self.debt


class CardProof(models.Model):
    """What lets a customer spend at a till beyond showing the card number: a PIN they set
    in the portal (hashed, locked after repeated failures) and the last time step of the
    rotating code used, so each code works once (``programs.services.card_proofs``).
    Created when first needed."""

    membership = models.OneToOneField(
        Membership,
        verbose_name=_("membership"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="card_proof",
    )
    pin_hash = models.CharField(_("PIN (hashed)"), max_length=128, blank=True, editable=False)
    pin_set_at = models.DateTimeField(_("PIN set"), null=True, blank=True, editable=False)
    pin_failures = models.PositiveSmallIntegerField(_("wrong PINs in a row"), default=0)
    pin_locked_until = models.DateTimeField(_("PIN locked until"), null=True, blank=True)
    last_code_step = models.BigIntegerField(
        _("last code used"), null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("card proof")
        verbose_name_plural = _("card proofs")

    def __str__(self) -> str:
        return str(self.membership)


class TierChangeReason(models.TextChoices):
    UPGRADE = "upgrade", _("Upgrade: threshold reached")
    DOWNGRADE = "downgrade", _("Downgrade at the end of the qualification period")
    RETURN = "return", _("Return: the qualifying figures no longer hold")
    OVERRIDE = "override", _("Set by staff")
    OVERRIDE_ENDED = "override_ended", _("Staff tier ended")
    SUBSCRIPTION = "subscription", _("Subscription bought")
    SUBSCRIPTION_LAPSED = "subscription_lapsed", _("Subscription lapsed")
    ACCOUNT = "account", _("Shared account's tier")
    ENROLLED = "enrolled", _("Enrolled")


class TierChange(models.Model):
    """Audit trail of every change of the effective tier, with the figures that caused it."""

    membership = models.ForeignKey(
        Membership,
        verbose_name=_("membership"),
        on_delete=models.CASCADE,
        related_name="tier_changes",
    )
    from_tier = models.ForeignKey(
        Tier, verbose_name=_("from"), null=True, on_delete=models.PROTECT, related_name="+"
    )
    to_tier = models.ForeignKey(
        Tier, verbose_name=_("to"), null=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=30, choices=TierChangeReason.choices)
    qualifying_value = models.DecimalField(
        _("qualifying value"), max_digits=14, decimal_places=2, null=True
    )
    window_start = models.DateTimeField(_("window start"), null=True)
    window_end = models.DateTimeField(_("window end"), null=True)
    note = models.TextField(_("note"), blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.membership}: {self.from_tier} -> {self.to_tier}"


class TierSubscription(models.Model):
    """A paid period of a subscription (VIP) tier; the fee is recorded as a purchase."""

    membership = models.ForeignKey(
        Membership,
        verbose_name=_("membership"),
        on_delete=models.CASCADE,
        related_name="subscriptions",
    )
    tier = models.ForeignKey(Tier, verbose_name=_("tier"), on_delete=models.PROTECT)
    purchase = models.OneToOneField(
        "programs.Purchase",
        verbose_name=_("fee purchase"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="subscription",
    )
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("tier subscription")
        verbose_name_plural = _("tier subscriptions")
        ordering = ["-ends_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="subscription_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tier} {self.starts_at:%Y-%m-%d} - {self.ends_at:%Y-%m-%d}"


class MembershipStatusChange(models.Model):
    """Audit trail of a membership's status (suspended, reactivated, closed): who, when,
    from which status to which, and why."""

    membership = models.ForeignKey(
        Membership,
        verbose_name=_("membership"),
        on_delete=models.CASCADE,
        related_name="status_changes",
    )
    from_status = models.CharField(_("from"), max_length=10, choices=MembershipStatus.choices)
    to_status = models.CharField(_("to"), max_length=10, choices=MembershipStatus.choices)
    reason = models.TextField(_("reason"))
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("changed by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("membership status change")
        verbose_name_plural = _("membership status changes")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.membership}: {self.from_status} -> {self.to_status}"
