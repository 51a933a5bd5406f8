"""Bonus campaigns: who they reach (audience), which purchases qualify (conditions), what
they give (effect) and how much (limits), in a date window.

A campaign with a segment or a holdout freezes its audience when it is switched on
(``CampaignMember``): the members in it then, each either reached or kept back in the
holdout, so the result page compares two fixed groups."""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from .fields import factor_field, money_field
from .membership import Membership
from .partner import Partner
from .program import Program, Tier
from .segments import Segment

MAX_HOLDOUT_PERCENT = 50

# A campaign's rule fields by part, in form order: the admin form, its fieldsets and the
# what-if (which replays an unsaved form) all read these, so a new field is added once.
CAMPAIGN_AUDIENCE_FIELDS = ("segment", "tiers", "partner", "holdout_percent")
CAMPAIGN_CONDITION_FIELDS = (
    "min_spend",
    "weekdays",
    "hour_from",
    "hour_until",
    "categories",
    "skus",
    "first_purchase_only",
)
CAMPAIGN_EFFECT_FIELDS = ("effect", "multiplier", "bonus_points")
CAMPAIGN_LIMIT_FIELDS = ("cap_per_member", "cap_per_member_day", "budget_points")
CAMPAIGN_RULE_FIELDS = (
    *CAMPAIGN_AUDIENCE_FIELDS,
    *CAMPAIGN_CONDITION_FIELDS,
    *CAMPAIGN_EFFECT_FIELDS,
    *CAMPAIGN_LIMIT_FIELDS,
)


class CampaignEffect(models.TextChoices):
    MULTIPLIER = "multiplier", _("multiply the points")
    FIXED = "fixed", _("fixed bonus points per purchase")


class Campaign(models.Model):
    program = models.ForeignKey(
        Program, verbose_name=_("program"), on_delete=models.CASCADE, related_name="campaigns"
    )
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Off: a draft, which awards nothing.")
    )
    # Audience
    segment = models.ForeignKey(
        Segment,
        verbose_name=_("segment"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        help_text=_("Empty: every member. Fixed when the campaign is switched on."),
    )
    tiers = models.ManyToManyField(
        Tier,
        verbose_name=_("tiers"),
        blank=True,
        related_name="+",
        help_text=_("Empty: every tier. Checked at each purchase."),
    )
    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Only purchases this partner posts. Empty: every partner."),
    )
    holdout_percent = models.PositiveSmallIntegerField(
        _("holdout (%)"),
        default=0,
        help_text=_(
            "Share of the audience kept back, drawn at random when the campaign is switched "
            "on, to measure what the campaign changed."
        ),
    )
    audience_frozen_at = models.DateTimeField(_("audience fixed"), null=True, editable=False)
    # Conditions
    min_spend = money_field(
        _("minimum spend"),
        null=True,
        blank=True,
        help_text=_("On the qualifying lines of one purchase. Empty: any amount."),
    )
    weekdays = ArrayField(
        models.PositiveSmallIntegerField(),
        verbose_name=_("weekdays"),
        default=list,
        blank=True,
        help_text=_("Empty: every day."),
    )
    hour_from = models.PositiveSmallIntegerField(
        _("from hour"), null=True, blank=True, help_text=_("Local time, 0-23. Empty: all day.")
    )
    hour_until = models.PositiveSmallIntegerField(
        _("until hour"), null=True, blank=True, help_text=_("Local time, 1-24, exclusive.")
    )
    categories = ArrayField(
        models.CharField(max_length=64),
        verbose_name=_("categories"),
        default=list,
        blank=True,
        help_text=_("Comma-separated. Empty (and no SKUs): every line."),
    )
    skus = ArrayField(
        models.CharField(max_length=64),
        verbose_name=_("SKUs"),
        default=list,
        blank=True,
        help_text=_("Comma-separated."),
    )
    first_purchase_only = models.BooleanField(
        _("first purchase only"), default=False, help_text=_("The member's first purchase.")
    )
    # Effect
    effect = models.CharField(
        _("effect"),
        max_length=12,
        choices=CampaignEffect.choices,
        default=CampaignEffect.MULTIPLIER,
    )
    multiplier = factor_field(_("multiplier"), default=2)
    bonus_points = models.PositiveIntegerField(_("bonus points"), null=True, blank=True)
    # Limits
    cap_per_member = models.PositiveIntegerField(
        _("bonus cap per member"), null=True, blank=True, help_text=_("Empty: no cap.")
    )
    cap_per_member_day = models.PositiveIntegerField(
        _("bonus cap per member and day"), null=True, blank=True, help_text=_("Empty: no cap.")
    )
    budget_points = models.PositiveBigIntegerField(
        _("points budget"),
        null=True,
        blank=True,
        help_text=_("All bonus points together. When it is spent, the campaign stops."),
    )
    points_awarded = models.BigIntegerField(_("bonus points given"), default=0, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True, null=True)

    class Meta:
        verbose_name = _("bonus campaign")
        verbose_name_plural = _("bonus campaigns")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="campaign_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(multiplier__gte=1), name="campaign_multiplier_gte_1"
            ),
            models.CheckConstraint(
                condition=~Q(effect="fixed") | Q(bonus_points__isnull=False, bonus_points__gt=0),
                name="campaign_fixed_has_points",
                violation_error_message=_("A fixed bonus needs its bonus points."),
            ),
            models.CheckConstraint(
                condition=Q(holdout_percent__lte=MAX_HOLDOUT_PERCENT),
                name="campaign_holdout_lte_50",
            ),
            models.CheckConstraint(
                condition=Q(hour_from__isnull=True) | Q(hour_from__lte=23),
                name="campaign_hour_from_valid",
            ),
            models.CheckConstraint(
                condition=Q(hour_until__isnull=True) | Q(hour_until__gte=1, hour_until__lte=24),
                name="campaign_hour_until_valid",
            ),
            # The budget is never exceeded, whatever the concurrency.
            models.CheckConstraint(
                condition=Q(points_awarded__gte=0)
                & (Q(budget_points__isnull=True) | Q(points_awarded__lte=F("budget_points"))),
                name="campaign_within_budget",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_audience(self) -> bool:
        """Whether the campaign reaches a fixed list of members (``CampaignMember``)."""
        return self.segment_id is not None or self.holdout_percent > 0

    @property
    def budget_left(self) -> int | None:
        if self.budget_points is None:
            return None
        return max(0, self.budget_points - self.points_awarded)


class CampaignMember(models.Model):
    """A member of a campaign's fixed audience: reached, or kept back in the holdout."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    in_holdout = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "membership"], name="campaignmember_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}:{self.membership_id}"


class CampaignAward(models.Model):
    """Bonus points a campaign gave on one purchase; summed to enforce the per-member and
    per-day caps. ``awarded_on``: the purchase's local date."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="awards")
    membership = models.ForeignKey(Membership, on_delete=models.PROTECT, related_name="+")
    purchase = models.ForeignKey("programs.Purchase", on_delete=models.PROTECT, related_name="+")
    points = models.PositiveIntegerField()
    awarded_on = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "purchase"], name="campaignaward_unique"),
        ]
        indexes = [
            models.Index(
                fields=["campaign", "membership", "awarded_on"], name="campaignaward_member_day"
            ),
            models.Index(fields=["purchase"], name="campaignaward_purchase"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign}: {self.points}"
