from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class Language(models.TextChoices):
    GERMAN = "de", _("German")
    ENGLISH = "en", _("English")


class CustomerKind(models.TextChoices):
    PERSON = "person", _("Person")
    SHARED = "shared", _("Shared account")


class Customer(models.Model):
    """A person known to the platform. Programs hold their points through memberships.

    A customer of kind *shared* is not a person: it stands for a business or household
    account whose points a membership of its own holds; it has no login and no e-mail."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("portal login"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer",
    )
    email = models.EmailField(_("e-mail"), blank=True)
    email_normalized = models.CharField(
        _("normalised e-mail"),
        max_length=254,
        blank=True,
        db_index=True,
        editable=False,
        help_text=_("Lower-case, without +tags and provider-ignored dots; for fraud checks."),
    )
    first_name = models.CharField(_("first name"), max_length=150, blank=True)
    last_name = models.CharField(_("last name"), max_length=150, blank=True)
    language = models.CharField(
        _("language"), max_length=5, choices=Language.choices, default=Language.GERMAN
    )
    birth_date = models.DateField(_("date of birth"), null=True, blank=True)
    kind = models.CharField(
        _("kind"),
        max_length=10,
        choices=CustomerKind.choices,
        default=CustomerKind.PERSON,
        db_default=CustomerKind.PERSON,
        editable=False,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_index=True)
    deletion_requested_at = models.DateTimeField(_("deletion requested"), null=True, blank=True)
    anonymized_at = models.DateTimeField(_("anonymised"), null=True, blank=True)
    # When the retention notice (personal data about to be deleted for inactivity) was sent;
    # a notice older than the customer's last activity belongs to an earlier period.
    retention_notice_at = models.DateTimeField(_("retention notice sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                condition=~models.Q(email=""),
                name="customer_email_unique_ci",
                violation_error_message=_("A customer with this e-mail address already exists."),
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email or f"#{self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class CommunicationPreferences(models.Model):
    """What a customer wants to receive by e-mail; one row per customer, created with the
    defaults on first read or write (``customers.preferences``).

    The portal feed always shows every notification; these switches only decide the
    e-mail. Service messages about the member's own account default to on; marketing
    (newsletters, offers) defaults to off, because advertising e-mail needs the
    customer's explicit opt-in (UWG section 7, GDPR).
    """

    customer = models.OneToOneField(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="communication_preferences",
    )
    email_tier_changes = models.BooleanField(
        _("e-mail: tier upgrades and downgrades"), default=True
    )
    email_tier_progress = models.BooleanField(_("e-mail: next tier within reach"), default=True)
    email_points_expiry = models.BooleanField(_("e-mail: points about to expire"), default=True)
    email_rewards = models.BooleanField(_("e-mail: redeemed rewards"), default=True)
    email_referrals = models.BooleanField(_("e-mail: referral rewards"), default=True)
    email_marketing = models.BooleanField(_("e-mail: news and offers"), default=False)
    email_surveys = models.BooleanField(_("e-mail: short surveys"), default=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("communication preferences")
        verbose_name_plural = _("communication preferences")

    def __str__(self) -> str:
        return str(self.customer)


class CustomerNote(models.Model):
    """What staff noted about a customer: a call, a complaint, a promise made. Notes are
    added, never edited or removed by hand (the audit log records who added which); a
    customer's erasure deletes them with the rest of their personal data."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="notes"
    )
    text = models.TextField(_("note"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("written by"),
        null=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("written"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("customer note")
        verbose_name_plural = _("customer notes")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.customer}: {self.text[:40]}"
