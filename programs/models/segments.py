"""Segments: named groups of a program's members, defined by conditions over what the
platform knows about them (tier, figures, purchases, consent, birthday).

A segment's conditions are grouped: the conditions of one group must all hold (and), and
a member belongs to the segment when any group holds (or). Evaluated live by
``programs.segments``; campaigns freeze their audience when they start."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .partner import Partner
from .program import Program, Tier


class Segment(models.Model):
    program = models.ForeignKey(
        Program, verbose_name=_("program"), on_delete=models.CASCADE, related_name="segments"
    )
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["program", "name"]
        constraints = [
            models.UniqueConstraint(fields=["program", "name"], name="segment_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name


class SegmentField(models.TextChoices):
    TIER = "tier", _("tier")
    ENGAGEMENT = "engagement", _("engagement score (0-100)")
    CHURN_RISK = "churn_risk", _("churn risk (yes or no)")
    PROBABILITY_ALIVE = "probability_alive", _("probability still active (0-100)")
    PREDICTED_CLV = "predicted_clv", _("predicted customer value")
    DAYS_SINCE_PURCHASE = "days_since_purchase", _("days since the last purchase")
    PURCHASES_12M = "purchases_12m", _("purchases in the last 12 months")
    SPEND_12M = "spend_12m", _("spend in the last 12 months")
    POINTS = "points", _("available points")
    MEMBER_DAYS = "member_days", _("days since joining")
    PARTNER = "partner", _("customer of partner")
    MARKETING_CONSENT = "marketing_consent", _("agreed to marketing e-mails")
    BIRTHDAY_MONTH = "birthday_month", _("birthday month (1-12)")


class SegmentOperator(models.TextChoices):
    IS = "is", _("is")
    IS_NOT = "is_not", _("is not")
    AT_LEAST = "at_least", _("is at least")
    AT_MOST = "at_most", _("is at most")


class SegmentCondition(models.Model):
    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), on_delete=models.CASCADE, related_name="conditions"
    )
    group = models.PositiveSmallIntegerField(
        _("group"),
        default=1,
        help_text=_(
            "Conditions with the same group number must all hold; a member belongs to the "
            "segment when any group holds."
        ),
    )
    field = models.CharField(_("field"), max_length=30, choices=SegmentField.choices)
    operator = models.CharField(
        _("operator"), max_length=10, choices=SegmentOperator.choices, default=SegmentOperator.IS
    )
    value = models.CharField(
        _("value"),
        max_length=40,
        blank=True,
        help_text=_("A number; for consent: yes or no. Leave empty for tier and partner."),
    )
    tier = models.ForeignKey(
        Tier, verbose_name=_("tier"), on_delete=models.PROTECT, null=True, blank=True
    )
    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.PROTECT, null=True, blank=True
    )

    class Meta:
        verbose_name = _("condition")
        verbose_name_plural = _("conditions")
        ordering = ["segment", "group", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(field="tier") | Q(tier__isnull=False),
                name="segmentcondition_tier_given",
            ),
            models.CheckConstraint(
                condition=~Q(field="partner") | Q(partner__isnull=False),
                name="segmentcondition_partner_given",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_field_display()} {self.get_operator_display()} {self.value}"
