from django.db import models
from django.utils.translation import gettext_lazy as _

from .survey import Survey


def _count(verbose_name):
    return models.BigIntegerField(verbose_name, default=0)


def _program():
    return models.ForeignKey(
        "programs.Program", verbose_name=_("program"), on_delete=models.CASCADE, related_name="+"
    )


def _optional(model: str, verbose_name):
    return models.ForeignKey(
        model,
        verbose_name=verbose_name,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )


class AnswerCounts(models.Model):
    """Survey answers of one span, one per member and kind: the member's latest answer
    with a score in the span (docs/metrics.md, "Counting rule")."""

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

    class Meta:
        abstract = True


class BuyerCounts(models.Model):
    """Members who bought (a purchase not rejected) in the span and in the span of the same
    length before it: the retention rate's inputs."""

    buyers = _count(_("buyers"))
    buyers_before = _count(_("buyers of the span before"))
    buyers_retained = _count(_("buyers of both spans"))

    class Meta:
        abstract = True


class MetricSnapshot(AnswerCounts, BuyerCounts):
    """Counts of one month for one program, tier and partner, written by the nightly job.

    Only counts and sums are stored, never ratios, so points re-aggregate exactly into
    quarters or years. Survey answers count one per member and month (the latest), so
    they do not add up across months: quarters and the dashboard's window have their own
    rows (``SpanSnapshot``). ``partner`` empty: all members; else the partner's members,
    the customers it linked, in its programs (docs/metrics.md, "Partner filter").
    ``tier`` empty: members without a tier. Flows (answers, points, buyers) belong to the
    month they happened in; stocks (members, outstanding and pending points, engagement)
    are as of the job's run and are written only for the current month.
    """

    period = models.DateField(_("month"), help_text=_("First day of the month."))
    program = _program()
    tier = _optional("programs.Tier", _("tier"))
    partner = _optional("programs.Partner", _("partner"))
    dismissed = _count(_("surveys dismissed"))
    points_issued = _count(_("points issued"))
    points_redeemed = _count(_("points redeemed"))
    points_expired = _count(_("points expired"))
    members = _count(_("members"))
    members_active = _count(_("active members"))
    members_at_risk = _count(_("members at risk"))
    members_dormant = _count(_("dormant members"))
    points_outstanding = _count(_("outstanding points"))
    points_pending = _count(_("pending points"))
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


class SpanKind(models.TextChoices):
    QUARTER = "quarter", _("Calendar quarter")
    WINDOW = "window", _("The last months (the dashboard's window)")


class SpanSnapshot(AnswerCounts, BuyerCounts):
    """Counts over a span longer than a month, which months cannot be summed into
    because each member counts once per span: a calendar quarter, or the dashboard's
    window of the last ``months`` months (from ``start`` to ``computed_at``). Program,
    tier and partner as in ``MetricSnapshot``. Quarters hold the answers and the three
    buyer counts of the retention rate; windows also the purchase figures (purchases
    not rejected, revenue net of refunds, in the program's currency)."""

    span = models.CharField(_("span"), max_length=7, choices=SpanKind.choices)
    start = models.DateField(_("first month"), help_text=_("First day of the first month."))
    months = models.PositiveSmallIntegerField(_("months"))
    program = _program()
    tier = _optional("programs.Tier", _("tier"))
    partner = _optional("programs.Partner", _("partner"))
    repeat_buyers = _count(_("buyers with more than one purchase"))
    purchases = _count(_("purchases"))
    revenue = models.DecimalField(_("revenue"), max_digits=18, decimal_places=2, default=0)
    lifetime_days = models.DecimalField(
        _("customer lifetimes (days, summed)"),
        max_digits=20,
        decimal_places=6,
        default=0,
        help_text=_("Sum over the buyers of the days from their first to their last purchase."),
    )
    single_product_buyers = _count(_("buyers of one product"))
    multi_product_buyers = _count(_("buyers of more than one product"))
    computed_at = models.DateTimeField(_("computed"))

    class Meta:
        verbose_name = _("span snapshot")
        verbose_name_plural = _("span snapshots")
        ordering = ["span", "-start", "program", "tier", "partner"]
        indexes = [
            models.Index(fields=["span", "months", "partner", "start"], name="span_lookup"),
        ]

    def __str__(self) -> str:
        return f"{self.program} {self.span} {self.start:%Y-%m} +{self.months}"


class CohortSnapshot(models.Model):
    """Members whose first purchase in the program fell in ``cohort`` (a month), and how
    many of them bought again within 30/90/180/365 days of it. ``partner`` as in
    ``MetricSnapshot``: empty for all members."""

    cohort = models.DateField(_("cohort month"))
    program = _program()
    tier = _optional("programs.Tier", _("tier"))
    partner = _optional("programs.Partner", _("partner"))
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
