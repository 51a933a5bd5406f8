from django.db import models
from django.utils.translation import gettext_lazy as _


class MemberValueFit(models.Model):
    """The nightly BG/NBD and Gamma-Gamma fit of one program (one row per program).

    Written by ``surveys.services.member_value`` only. The parameters, sample sizes and
    ``fitted_at`` describe the last fit that succeeded, whose per-member figures are in
    ``programs.MembershipFigures``; ``attempted_at`` and ``failure_reason`` tell about the
    last attempt (``failure_reason`` empty: it succeeded). ``too_small`` flags a fit on
    fewer customers than the documented minimum (docs/metrics.md, "Predictive figures")."""

    program = models.OneToOneField(
        "programs.Program",
        verbose_name=_("program"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    attempted_at = models.DateTimeField(_("last attempt"))
    failure_reason = models.TextField(
        _("failure reason"), blank=True, help_text=_("Why the last attempt found no fit.")
    )
    fitted_at = models.DateTimeField(_("fitted"), null=True, blank=True)
    customers = models.PositiveIntegerField(
        _("customers in the fit"), default=0, help_text=_("Members with at least one purchase.")
    )
    repeat_customers = models.PositiveIntegerField(
        _("repeat customers"),
        default=0,
        help_text=_("Members with a repeat purchase (the sample of the spend model)."),
    )
    too_small = models.BooleanField(_("sample too small"), default=False)
    horizon_months = models.PositiveSmallIntegerField(_("CLV horizon (months)"), default=12)
    r = models.FloatField(null=True, blank=True)
    alpha = models.FloatField(null=True, blank=True)
    a = models.FloatField(null=True, blank=True)
    b = models.FloatField(null=True, blank=True)
    log_likelihood = models.FloatField(_("log-likelihood (BG/NBD)"), null=True, blank=True)
    p = models.FloatField(null=True, blank=True)
    q = models.FloatField(null=True, blank=True)
    v = models.FloatField(null=True, blank=True)

    class Meta:
        verbose_name = _("customer value fit")
        verbose_name_plural = _("customer value fits")

    def __str__(self) -> str:
        return f"{self.program_id}: {self.fitted_at or '-'}"
