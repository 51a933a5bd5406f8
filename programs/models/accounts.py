"""Shared accounts: a business whose buyers earn together, a household that pools, and
points that move between members (``programs.services.accounts``,
``programs.services.transfers``).

An account's points live on a membership of its own, the account's *holder*: a
membership like any other (ledger, lots, holds, vouchers, card number, tier), whose
customer is the account itself (``Customer.kind`` shared). Where the program pools
(``Program.accounts_pool``), a member's purchases are recorded on the holder with the
member as ``placed_by``, so they earn into the account's balance and count toward its
tier; the member's own membership keeps the points it had."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .membership import Membership
from .program import Program


class AccountKind(models.TextChoices):
    BUSINESS = "business", _("Business")
    HOUSEHOLD = "household", _("Household")


class AccountRole(models.TextChoices):
    OWNER = "owner", _("Owner")
    BUYER = "buyer", _("Buyer")
    VIEWER = "viewer", _("Viewer")
    HEAD = "head", _("Head of household")
    MEMBER = "member", _("Household member")


ROLES = {
    AccountKind.BUSINESS: (AccountRole.OWNER, AccountRole.BUYER, AccountRole.VIEWER),
    AccountKind.HOUSEHOLD: (AccountRole.HEAD, AccountRole.MEMBER),
}
"""The roles an account of each kind has; the first manages the account."""
MANAGING = frozenset({AccountRole.OWNER, AccountRole.HEAD})
REDEEMING = frozenset({AccountRole.OWNER, AccountRole.BUYER, AccountRole.HEAD, AccountRole.MEMBER})


class AccountStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    CLOSED = "closed", _("Closed")


class Account(models.Model):
    program = models.ForeignKey(
        Program, verbose_name=_("program"), on_delete=models.PROTECT, related_name="accounts"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=AccountKind.choices)
    name = models.CharField(_("name"), max_length=200)
    holder = models.OneToOneField(
        Membership,
        verbose_name=_("account balance"),
        on_delete=models.PROTECT,
        related_name="account_held",
        editable=False,
        help_text=_("The membership that holds the account's own points and tier."),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=AccountStatus.choices, default=AccountStatus.ACTIVE
    )
    # A business's data
    vat_id = models.CharField(_("VAT id"), max_length=20, blank=True)
    street = models.CharField(_("street"), max_length=200, blank=True)
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True, default="DE")
    requires_po_reference = models.BooleanField(
        _("purchase order reference required"),
        default=False,
        help_text=_("Purchases for this account are refused without a purchase order number."),
    )
    created_by_partner = models.ForeignKey(
        "programs.Partner",
        verbose_name=_("created by partner"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    external_id = models.CharField(
        _("partner's id"),
        max_length=100,
        blank=True,
        help_text=_("The creating partner's own id for the account (its customer number)."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True, editable=False)
    closing_note = models.CharField(_("closing note"), max_length=255, blank=True, editable=False)

    class Meta:
        verbose_name = _("shared account")
        verbose_name_plural = _("shared accounts")
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by_partner", "external_id"],
                condition=~Q(external_id=""),
                name="account_partner_external_id",
                violation_error_message=_("The partner already has an account with this id."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def pools(self) -> bool:
        return self.program.accounts_pool


class AccountMember(models.Model):
    """A membership in an account, with its role; ``left_at`` set once it left. A
    membership belongs to one account at a time."""

    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="members"
    )
    membership = models.ForeignKey(
        Membership,
        verbose_name=_("membership"),
        on_delete=models.PROTECT,
        related_name="account_memberships",
    )
    role = models.CharField(_("role"), max_length=10, choices=AccountRole.choices)
    monthly_limit = models.PositiveIntegerField(
        _("monthly redemption limit"),
        null=True,
        blank=True,
        help_text=_(
            "Points this member may redeem from the account per calendar month; empty: no limit."
        ),
    )
    joined_at = models.DateTimeField(_("joined"))
    left_at = models.DateTimeField(_("left"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("account member")
        verbose_name_plural = _("account members")
        ordering = ["joined_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["membership"],
                condition=Q(left_at__isnull=True),
                name="account_member_one_account",
                violation_error_message=_("This member already belongs to a shared account."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.membership.customer} ({self.get_role_display()})"

    @property
    def may_redeem(self) -> bool:
        return self.role in REDEEMING

    @property
    def manages(self) -> bool:
        return self.role in MANAGING


class InvitationStatus(models.TextChoices):
    OPEN = "open", _("Waiting for confirmation")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    REVOKED = "revoked", _("Withdrawn")
    EXPIRED = "expired", _("Expired")


class AccountInvitation(models.Model):
    """An invitation to join an account, sent by e-mail; the invited person confirms it
    in the portal (signed in with that e-mail) through the link's token, kept hashed."""

    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField(_("e-mail"))
    role = models.CharField(_("role"), max_length=10, choices=AccountRole.choices)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    status = models.CharField(
        _("status"), max_length=10, choices=InvitationStatus.choices, default=InvitationStatus.OPEN
    )
    invited_by = models.ForeignKey(
        Membership,
        verbose_name=_("invited by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    expires_at = models.DateTimeField(_("valid until"))
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    member = models.OneToOneField(
        AccountMember,
        verbose_name=_("member"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="invitation",
    )
    created_at = models.DateTimeField(_("sent"), auto_now_add=True)
    # The invitation e-mail, delivered through the outbox (loyalty_site.core.outbox).
    email_state = models.CharField(_("e-mail"), max_length=10, default="pending")
    email_attempts = models.PositiveSmallIntegerField(_("e-mail attempts"), default=0)
    email_last_error = models.CharField(_("last e-mail error"), max_length=500, blank=True)
    email_next_attempt_at = models.DateTimeField(_("next e-mail attempt"), null=True, blank=True)
    email_sent_at = models.DateTimeField(_("e-mail sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("account invitation")
        verbose_name_plural = _("account invitations")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "email"],
                condition=Q(status="open"),
                name="account_invitation_open_once",
                violation_error_message=_("This address has an open invitation already."),
            ),
        ]
        indexes = [
            models.Index(
                fields=["email_next_attempt_at"],
                condition=Q(email_state="pending"),
                name="account_invitation_email_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} -> {self.account}"


class TransferStatus(models.TextChoices):
    DONE = "done", _("Transferred")
    REVIEW = "review", _("Waiting for review")
    REJECTED = "rejected", _("Rejected")
    REVERSED = "reversed", _("Reversed by staff")


class Transfer(models.Model):
    """Points given by one member to another of the same program. Done: two ledger
    entries in one transaction (``transfer_out`` on the sender, ``transfer_in`` on the
    recipient). An unusual transfer waits for staff review and moves nothing until
    approved."""

    program = models.ForeignKey(
        Program, verbose_name=_("program"), on_delete=models.PROTECT, related_name="transfers"
    )
    sender = models.ForeignKey(
        Membership, verbose_name=_("from"), on_delete=models.PROTECT, related_name="transfers_sent"
    )
    recipient = models.ForeignKey(
        Membership,
        verbose_name=_("to"),
        on_delete=models.PROTECT,
        related_name="transfers_received",
    )
    points = models.PositiveIntegerField(_("points"))
    status = models.CharField(_("status"), max_length=10, choices=TransferStatus.choices)
    message = models.CharField(_("message"), max_length=200, blank=True)
    review_reasons = models.JSONField(_("review reasons"), default=list, blank=True)
    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    requested_by_partner = models.ForeignKey(
        "programs.Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(_("reviewed"), null=True, blank=True)
    review_note = models.CharField(_("review note"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("requested"))
    done_at = models.DateTimeField(_("transferred"), null=True, blank=True)
    reversed_at = models.DateTimeField(_("reversed"), null=True, blank=True)

    class Meta:
        verbose_name = _("points transfer")
        verbose_name_plural = _("points transfers")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gt=0), name="transfer_points_gt_0"),
            models.CheckConstraint(
                condition=~Q(sender=models.F("recipient")), name="transfer_not_to_self"
            ),
        ]
        indexes = [
            models.Index(fields=["sender", "created_at"], name="transfer_sender_recent"),
            models.Index(fields=["recipient", "created_at"], name="transfer_recipient_recent"),
            models.Index(
                fields=["status"], condition=Q(status="review"), name="transfer_waiting_review"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.points} {self.sender} -> {self.recipient}"
