"""What the metrics compute about one membership, stored where the engine can read it.

``surveys`` computes these figures (the engagement recompute, the nightly BG/NBD and
Gamma-Gamma fit per program) and writes them here: the partner API, the membership admin
and segments read them without importing ``surveys``. The engagement score is stored
here only, with its components, so the recompute writes each membership's row once.
Every figure carries the time it was computed; NULL means "not computed yet".
"""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .membership import Membership


def _component(label):
    return models.FloatField(label, null=True, blank=True, editable=False)


class MembershipFigures(models.Model):
    """One row per membership with figures. The engagement recompute rewrites every
    row every night and no index covers a column it changes, so the update stays on its
    page (a HOT update: no index entries to add) in the room the table's fill factor of
    45 leaves (migration 0021)."""

    membership = models.OneToOneField(
        Membership,
        verbose_name=_("membership"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="figures",
    )
    engagement_score = models.DecimalField(
        _("engagement score"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    churn_risk = models.BooleanField(_("churn risk"), null=True, blank=True)
    engagement_computed_at = models.DateTimeField(_("engagement computed"), null=True, blank=True)
    # The score's components, each 0-1 (their formula: surveys.engagement.scores).
    engagement_recency = _component(_("recency"))
    engagement_frequency = _component(_("frequency"))
    engagement_monetary = _component(_("spend"))
    engagement_portal = _component(_("portal activity"))
    engagement_surveys = _component(_("surveys"))
    engagement_referrals = _component(_("referrals"))
    engagement_redemptions = _component(_("redemptions"))
    # The daily scores of the churn-drop window in hundredths of a point, newest first:
    # element k (from 1) is the score of ``engagement_window_day`` - (k - 1) days, NULL
    # for a day without a recompute. Written and read by the recompute's SQL only
    # (surveys.engagement.score_rows); the score history is the truth it is rebuilt from.
    engagement_window = ArrayField(models.SmallIntegerField(), null=True, editable=False)
    engagement_window_day = models.DateField(null=True, editable=False)
    probability_alive = models.DecimalField(
        _("probability alive"),
        max_digits=5,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_("BG/NBD probability that the member still buys (0-1)."),
    )
    expected_purchases = models.DecimalField(
        _("expected purchases"),
        max_digits=9,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("BG/NBD expected purchases within the CLV horizon."),
    )
    predicted_clv = models.DecimalField(
        _("predicted customer lifetime value"),
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Expected spend within the CLV horizon, in the program's currency."),
    )
    clv_horizon_months = models.PositiveSmallIntegerField(
        _("CLV horizon (months)"), null=True, blank=True
    )
    clv_computed_at = models.DateTimeField(_("CLV computed"), null=True, blank=True)

    class Meta:
        verbose_name = _("membership figures")
        verbose_name_plural = _("membership figures")
        constraints = [
            models.CheckConstraint(
                condition=Q(engagement_score__gte=0, engagement_score__lte=100)
                | Q(engagement_score__isnull=True),
                name="figures_engagement_range",
            ),
            models.CheckConstraint(
                condition=Q(probability_alive__gte=0, probability_alive__lte=1)
                | Q(probability_alive__isnull=True),
                name="figures_alive_range",
            ),
            models.CheckConstraint(
                condition=Q(predicted_clv__gte=0) | Q(predicted_clv__isnull=True),
                name="figures_clv_non_negative",
            ),
            models.CheckConstraint(
                condition=Q(expected_purchases__gte=0) | Q(expected_purchases__isnull=True),
                name="figures_purchases_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.membership_id}"
