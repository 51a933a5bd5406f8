from django.db import models
from django.utils.translation import gettext_lazy as _

from .survey import Survey


def _count(verbose_name):
    return models.BigIntegerField(verbose_name, default=0)


class MetricSnapshot(models.Model):
    """Counts of one month for one program, tier and partner, written by the nightly job.

    Only counts and sums are stored, never ratios, so months re-aggregate exactly into
    quarters or years (NPS from summed promoters/passives/detractors, not from averaged
    scores). ``partner`` empty: all partners together (not "no partner"); a partner's rows
    count only what is attributed to it. ``tier`` empty: members without a tier. Flows
    (answers, points) belong to the month they happened in; stocks (members, outstanding
    points) are as of the job's run and are written only for the current month.
    """

    period = models.DateField(_("month"), help_text=_("First day of the month."))
    program = models.ForeignKey(
        "programs.Program", verbose_name=_("program"), on_delete=models.CASCADE, related_name="+"
    )
    tier = models.ForeignKey(
        "programs.Tier",
        verbose_name=_("tier"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    partner = models.ForeignKey(
        "programs.Partner",
        verbose_name=_("partner"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    nps_promoters = _count(_("NPS promoters (9-10)"))
    nps_passives = _count(_("NPS passives (7-8)"))
    nps_detractors = _count(_("NPS detractors (0-6)"))
    csat_n = _count(_("CSAT answers"))
    csat_satisfied = _count(_("CSAT answers 4-5"))
    ces_n = _count(_("CES answers"))
    ces_sum = _count(_("CES sum of answers"))
    ces_agree = _count(_("CES answers 5-7"))
    cli_n = _count(_("CLI answers"))
    cli_sum = _count(_("CLI sum of the three answers"))
    dismissed = _count(_("surveys dismissed"))
    points_issued = _count(_("points issued"))
    points_redeemed = _count(_("points redeemed"))
    points_expired = _count(_("points expired"))
    members = _count(_("members"))
    members_active = _count(_("active members"))
    members_at_risk = _count(_("members at risk"))
    members_dormant = _count(_("dormant members"))
    points_outstanding = _count(_("outstanding points"))
    # Members by engagement score (0-100) in five bands: [0, 20), [20, 40) ... [80, 100].
    engagement_0 = _count(_("engagement 0-19"))
    engagement_1 = _count(_("engagement 20-39"))
    engagement_2 = _count(_("engagement 40-59"))
    engagement_3 = _count(_("engagement 60-79"))
    engagement_4 = _count(_("engagement 80-100"))
    computed_at = models.DateTimeField(_("computed"))

    class Meta:
        verbose_name = _("metric snapshot")
        verbose_name_plural = _("metric snapshots")
        ordering = ["-period", "program", "tier", "partner"]
        indexes = [
            models.Index(fields=["program", "partner", "period"], name="snapshot_lookup"),
        ]

    def __str__(self) -> str:
        return f"{self.program} {self.period:%Y-%m}"


class CohortSnapshot(models.Model):
    """Members whose first purchase in the program fell in ``cohort`` (a month), and how
    many of them bought again within 30/90/180/365 days of it."""

    cohort = models.DateField(_("cohort month"))
    program = models.ForeignKey(
        "programs.Program", verbose_name=_("program"), on_delete=models.CASCADE, related_name="+"
    )
    tier = models.ForeignKey(
        "programs.Tier",
        verbose_name=_("tier"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    customers = _count(_("customers"))
    within_30 = _count(_("bought again within 30 days"))
    within_90 = _count(_("bought again within 90 days"))
    within_180 = _count(_("bought again within 180 days"))
    within_365 = _count(_("bought again within 365 days"))
    computed_at = models.DateTimeField(_("computed"))

    class Meta:
        verbose_name = _("cohort snapshot")
        verbose_name_plural = _("cohort snapshots")
        ordering = ["program", "cohort"]
        indexes = [models.Index(fields=["program", "cohort"], name="cohort_lookup")]

    def __str__(self) -> str:
        return f"{self.program} {self.cohort:%Y-%m}"


class MetricsDashboard(Survey):
    """No table: gives the staff dashboard its entry on the admin index."""

    class Meta:
        proxy = True
        verbose_name = _("metrics dashboard")
        verbose_name_plural = _("metrics dashboard")
