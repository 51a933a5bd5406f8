"""The staff audit log: one row per staff write, append-only in the database.

Rows are written by ``loyalty_site.core.audit`` (from the admin and from the services that
move points or tiers) and never changed afterwards: a trigger refuses UPDATE and DELETE
(migration ``core.0001``), except the one redaction a customer's erasure makes, which may
only blank the personal values (``object_repr``, ``changes``, ``note``) and stamp
``redacted_at``, once.

The actor and the customer are plain ids, not foreign keys with constraints: the log
outlives a deleted staff account (its name is kept), and this package knows no app.
"""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    """Actions with a name of their own; an admin action is stored by its function name."""

    ADD = "add", _("added")
    CHANGE = "change", _("changed")
    DELETE = "delete", _("deleted")
    ADJUST_POINTS = "adjust_points", _("points adjusted")
    SET_TIER = "set_tier", _("tier set by staff")
    SECOND_FACTOR = "second_factor", _("second factor set up")


class AuditEntry(models.Model):
    at = models.DateTimeField(_("when"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff member"),
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(_("staff member (name)"), max_length=150)
    action = models.CharField(_("action"), max_length=100, db_index=True)
    model = models.CharField(_("kind of record"), max_length=100)
    object_id = models.CharField(_("record id"), max_length=64)
    object_repr = models.CharField(_("record"), max_length=200, blank=True)
    changes = models.JSONField(
        _("before and after"),
        encoder=DjangoJSONEncoder,
        default=dict,
        help_text=_("Each changed field with its value before and after."),
    )
    note = models.TextField(_("note"), blank=True)
    customer_id = models.BigIntegerField(
        _("customer id"),
        null=True,
        db_index=True,
        help_text=_("The customer the record belongs to; their erasure redacts this row."),
    )
    redacted_at = models.DateTimeField(_("personal values redacted"), null=True)

    class Meta:
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["model", "object_id"], name="core_audit_object")]

    def __str__(self) -> str:
        return f"{self.actor_name}: {self.action_label} {self.model} #{self.object_id}"

    @property
    def action_label(self) -> str:
        """The action in words: its label, or for an admin action its description (the
        row's note)."""
        try:
            return str(AuditAction(self.action).label)
        except ValueError:
            return self.note or self.action
