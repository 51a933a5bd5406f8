from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .fields import factor_field
from .membership import Membership
from .program import Program


class EarnRule(models.Model):
    """A per-category or per-SKU multiplier, or an exclusion (e.g. gift cards earn nothing)."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="earn_rules")
    name = models.CharField(_("name"), max_length=120)
    category = models.CharField(_("category"), max_length=64, blank=True)
    sku = models.CharField(_("SKU"), max_length=64, blank=True)
    multiplier = factor_field(_("multiplier"), help_text=_("2 = double points on these lines."))
    excluded = models.BooleanField(_("earns no points"), default=False)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("earn rule")
        verbose_name_plural = _("earn rules")
        ordering = ["program", "name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(category="") | ~Q(sku=""),
                name="earnrule_has_category_or_sku",
                violation_error_message=_("Give a category or a SKU."),
            ),
            models.CheckConstraint(
                condition=Q(multiplier__gte=0), name="earnrule_multiplier_gte_0"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class LimitPeriod(models.TextChoices):
    DAY = "day", _("per day")
    WEEK = "week", _("per week")
    MONTH = "month", _("per month")
    YEAR = "year", _("per year")
    LIFETIME = "lifetime", _("ever")


class ActionRule(models.Model):
    """Points for a non-purchase action (sign-up, birthday, review, reusable bag...)."""

    program = models.ForeignKey(Program, on_delete=models.CASCADE, related_name="action_rules")
    code = models.SlugField(_("code"), help_text=_("What partners send, e.g. review_written."))
    name = models.CharField(_("name"), max_length=120)
    points = models.PositiveIntegerField(_("points"))
    limit_count = models.PositiveIntegerField(
        _("limit"), null=True, blank=True, help_text=_("Empty: no limit.")
    )
    limit_period = models.CharField(
        _("limit period"), max_length=10, choices=LimitPeriod.choices, default=LimitPeriod.LIFETIME
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("action rule")
        verbose_name_plural = _("action rules")
        ordering = ["program", "name"]
        constraints = [
            models.UniqueConstraint(fields=["program", "code"], name="actionrule_unique_code"),
            models.CheckConstraint(condition=Q(points__gt=0), name="actionrule_points_gt_0"),
        ]

    def __str__(self) -> str:
        return self.name


class ActionEvent(models.Model):
    """One reported action; ``reference`` (e.g. the review's id) makes a report idempotent."""

    membership = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="actions")
    rule = models.ForeignKey(ActionRule, on_delete=models.PROTECT, related_name="events")
    reference = models.CharField(_("reference"), max_length=100)
    occurred_at = models.DateTimeField(_("occurred"))
    points = models.PositiveIntegerField(_("points"))
    created_at = models.DateTimeField(_("recorded"), auto_now_add=True)

    class Meta:
        verbose_name = _("action")
        verbose_name_plural = _("actions")
        ordering = ["-occurred_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["membership", "rule", "reference"], name="actionevent_unique_reference"
            ),
        ]
        indexes = [
            models.Index(fields=["membership", "rule", "occurred_at"], name="actionevent_limit")
        ]

    def __str__(self) -> str:
        return f"{self.rule} ({self.reference})"
