"""Engagement scores: weights staff edit, the current score per membership (a view of the
membership's figures), one history row per membership and day, and the portal activity
that feeds the score.

The formula is documented in ``surveys.engagement.scores``."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from programs.models import MembershipFigures


def _weight(label, default):
    return models.DecimalField(
        label,
        max_digits=5,
        decimal_places=2,
        default=Decimal(default),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )


def _scale(label, default, help_text):
    return models.DecimalField(
        label,
        max_digits=10,
        decimal_places=2,
        default=Decimal(default),
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=help_text,
    )


class EngagementWeights(models.Model):
    """The one set of weights and constants of the engagement score (a singleton, pk=1).

    Weights are relative: they are divided by their sum, so only their ratios matter.
    """

    SINGLETON_ID = 1

    recency = _weight(_("weight: recency"), "25")
    frequency = _weight(_("weight: purchase frequency"), "20")
    monetary = _weight(_("weight: spend"), "20")
    portal = _weight(_("weight: portal activity"), "10")
    surveys = _weight(_("weight: survey participation"), "5")
    referrals = _weight(_("weight: referrals"), "10")
    redemptions = _weight(_("weight: redemptions"), "10")

    half_life_days = models.PositiveSmallIntegerField(
        _("half-life (days)"),
        default=90,
        validators=[MinValueValidator(1)],
        help_text=_("An activity this old counts half as much as one today."),
    )
    frequency_scale = _scale(
        _("purchases for half marks"), "4", _("Decayed purchase count that scores 0.5.")
    )
    monetary_scale = _scale(
        _("spend for half marks"), "200", _("Decayed spend (program currency) that scores 0.5.")
    )
    portal_scale = _scale(
        _("portal visits for half marks"), "5", _("Decayed portal visits that score 0.5.")
    )
    surveys_scale = _scale(
        _("surveys for half marks"), "1", _("Decayed survey answers that score 0.5.")
    )
    referrals_scale = _scale(
        _("referrals for half marks"), "1", _("Decayed rewarded referrals that score 0.5.")
    )
    redemptions_scale = _scale(
        _("redemptions for half marks"), "1", _("Decayed redemptions that score 0.5.")
    )

    churn_threshold = models.DecimalField(
        _("churn risk below"),
        max_digits=5,
        decimal_places=2,
        default=Decimal(20),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("A score below this flags the membership as at risk."),
    )
    churn_drop = models.DecimalField(
        _("churn risk on a drop of"),
        max_digits=5,
        decimal_places=2,
        default=Decimal(25),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text=_("Points lost against the best score of the drop window flag a risk."),
    )
    churn_drop_days = models.PositiveSmallIntegerField(
        _("drop window (days)"), default=30, validators=[MinValueValidator(1)]
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        db_table = "customers_engagementweights"  # the table it had in the customers app
        verbose_name = _("engagement weights")
        verbose_name_plural = _("engagement weights")

    def __str__(self) -> str:
        return str(_("Engagement weights"))


class ScoredFigures(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(engagement_computed_at__isnull=False)


class EngagementScore(MembershipFigures):
    """The latest engagement score of a membership (0-100) with its components (each
    0-1): the membership's figures that have a score, for the staff admin.

    The score lives in the figures table ``programs`` owns (``MembershipFigures``), so
    the partner API and segments read it without importing ``surveys`` and the recompute
    writes each membership's row once (``surveys.engagement.score_rows``)."""

    objects = ScoredFigures()

    class Meta:
        proxy = True
        verbose_name = _("engagement score")
        verbose_name_plural = _("engagement scores")
        ordering = ["engagement_score"]

    def __str__(self) -> str:
        return f"{self.membership_id}: {self.engagement_score}"


class EngagementScoreDay(models.Model):
    """Score history: one row per membership and day (the last recompute of the day)."""

    membership = models.ForeignKey(
        "programs.Membership",
        verbose_name=_("membership"),
        on_delete=models.CASCADE,
        related_name="engagement_history",
        db_index=False,  # the unique (membership, day) index serves lookups by membership
    )
    day = models.DateField(_("day"))
    score = models.DecimalField(_("score"), max_digits=5, decimal_places=2)
    churn_risk = models.BooleanField(_("churn risk"), default=False)

    class Meta:
        db_table = "customers_engagementscoreday"  # the table it had in the customers app
        verbose_name = _("engagement score of a day")
        verbose_name_plural = _("engagement score history")
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["membership", "day"], name="engagement_day_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.membership_id} {self.day}: {self.score}"


class ActivityKind(models.TextChoices):
    LOGIN = "login", _("Login")
    VISIT = "visit", _("Portal visit")


class PortalActivityDay(models.Model):
    """How often a customer logged in to or visited the portal on one day (a counter per
    day keeps the table small; written by ``customer_activity_record``)."""

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="portal_activity",
    )
    day = models.DateField(_("day"))
    kind = models.CharField(_("kind"), max_length=10, choices=ActivityKind.choices)
    count = models.PositiveIntegerField(_("count"), default=0)

    class Meta:
        db_table = "customers_portalactivityday"  # the table it had in the customers app
        verbose_name = _("portal activity")
        verbose_name_plural = _("portal activity")
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "day", "kind"], name="portal_activity_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.day} {self.kind}: {self.count}"
