"""A what-if run: a proposed change (tier thresholds or a draft campaign) replayed against
the last months of real purchases in the background, before staff save it."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .program import Program


class WhatIfKind(models.TextChoices):
    TIERS = "tiers", _("tier thresholds")
    CAMPAIGN = "campaign", _("campaign")


class WhatIfStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    DONE = "done", _("done")
    FAILED = "failed", _("failed")


class WhatIfRun(models.Model):
    program = models.ForeignKey(
        Program, verbose_name=_("program"), on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=WhatIfKind.choices)
    months = models.PositiveSmallIntegerField(_("months replayed"), default=12)
    proposal = models.JSONField(_("proposed change"))
    status = models.CharField(
        _("status"), max_length=10, choices=WhatIfStatus.choices, default=WhatIfStatus.QUEUED
    )
    progress = models.PositiveSmallIntegerField(_("progress (%)"), default=0)
    result = models.JSONField(_("result"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("what-if run")
        verbose_name_plural = _("what-if runs")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_status_display()})"
