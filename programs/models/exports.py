"""Exports too long to build while staff wait (``programs.admin.export_jobs``), as Excel
or CSV (``file_format``): a job counts the rows, a worker writes the file row by row and
stores the finished file in the database in parts (``ExportFilePart``, at most 1 MiB
each), and the download streams the parts. The job goes queued -> running -> done, or
failed (retry starts it again). Only the staff member who started it (or Administration)
sees and downloads it; the parts of a finished file are deleted after a week."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ExportKind(models.TextChoices):
    MEMBERS = "members", _("Members")
    MEMBER_LEDGER = "member_ledger", _("Member's ledger")
    LEDGER_PERIOD = "ledger_period", _("Ledger entries of a period")
    SEGMENT = "segment", _("Segment")


class ExportFormat(models.TextChoices):
    XLSX = "xlsx", "Excel"
    CSV = "csv", "CSV"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting for a worker")
    RUNNING = "running", _("Writing the file")
    DONE = "done", _("Ready for download")
    FAILED = "failed", _("Failed")


class ExportJob(models.Model):
    kind = models.CharField(_("kind"), max_length=16, choices=ExportKind.choices)
    params = models.JSONField(_("what is exported"), default=dict, blank=True)
    file_format = models.CharField(
        _("format"), max_length=4, choices=ExportFormat.choices, default=ExportFormat.XLSX
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("started by"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    status = models.CharField(
        _("status"), max_length=8, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    language = models.CharField(_("language of the file"), max_length=8, default="de")
    rows_total = models.PositiveBigIntegerField(_("rows"), default=0)
    rows_done = models.PositiveBigIntegerField(_("rows written"), default=0)
    file_name = models.CharField(_("file"), max_length=255)
    file_size = models.PositiveBigIntegerField(_("size (bytes)"), default=0)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    heartbeat_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    purged_at = models.DateTimeField(_("file deleted"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "finished_at"], name="exportjob_status_finished")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.file_name}"

    @property
    def percent(self) -> int:
        if self.status == ExportStatus.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(100, round(100 * self.rows_done / self.rows_total))


class ExportFilePart(models.Model):
    """One part of a finished file, in order (parts of at most 1 MiB)."""

    job = models.ForeignKey(ExportJob, on_delete=models.CASCADE, related_name="parts")
    number = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="exportfilepart_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.number}"
