from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class Language(models.TextChoices):
    GERMAN = "de", _("German")
    ENGLISH = "en", _("English")


class Customer(models.Model):
    """A person known to the platform. Programs hold their points through memberships."""

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
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True, db_index=True)
    deletion_requested_at = models.DateTimeField(_("deletion requested"), null=True, blank=True)
    anonymized_at = models.DateTimeField(_("anonymised"), null=True, blank=True)

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


# Notifications, preferences and engagement scores live in their own modules; imported
# here so that Django registers them with the customers app.
from customers.engagement.models import (  # noqa: E402
    ActivityKind,
    EngagementScore,
    EngagementScoreDay,
    EngagementWeights,
    PortalActivityDay,
)
from customers.notifications.models import (  # noqa: E402
    CommunicationPreferences,
    EmailState,
    Notification,
    NotificationKind,
)

__all__ = [
    "ActivityKind",
    "CommunicationPreferences",
    "Customer",
    "EmailState",
    "EngagementScore",
    "EngagementScoreDay",
    "EngagementWeights",
    "Language",
    "Notification",
    "NotificationKind",
    "PortalActivityDay",
]
