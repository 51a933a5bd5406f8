"""Notifications a customer is told about (portal feed + e-mail)."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from programs.notifications.kinds import EmailState, NotificationKind
from programs.notifications.texts import notification_message

__all__ = ["EmailState", "Notification", "NotificationKind"]


class Notification(models.Model):
    """One thing a customer is told about, at most once per cause (``cause_key``).

    The texts are rendered from ``params`` in the customer's language when shown or
    sent (``programs.notifications.texts``), so a change of language applies to the
    feed as well. The e-mail columns record the delivery: ``email_state`` with
    ``email_attempts``, ``email_last_error`` and ``email_sent_at``; ``email_next_attempt_at``
    is both the retry time and the lease a worker takes while it sends.
    """

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    membership = models.ForeignKey(
        "programs.Membership",
        verbose_name=_("membership"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    kind = models.CharField(_("kind"), max_length=30, choices=NotificationKind.choices)
    cause_key = models.CharField(_("cause"), max_length=200, unique=True)
    params = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), db_index=True)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)

    email_state = models.CharField(
        _("e-mail"), max_length=10, choices=EmailState.choices, default=EmailState.PENDING
    )
    email_attempts = models.PositiveSmallIntegerField(_("e-mail attempts"), default=0)
    email_last_error = models.CharField(_("last e-mail error"), max_length=500, blank=True)
    email_next_attempt_at = models.DateTimeField(_("next e-mail attempt"), null=True, blank=True)
    email_sent_at = models.DateTimeField(_("e-mail sent"), null=True, blank=True)

    class Meta:
        db_table = "customers_notification"  # the table it had in the customers app
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="notification_customer_recent"),
            models.Index(
                fields=["email_next_attempt_at"],
                condition=Q(email_state="pending"),
                name="notification_email_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} -> {self.customer}"

    @property
    def message(self):
        """Title and body in the active language (see ``programs.notifications.texts``)."""
        return notification_message(self)
