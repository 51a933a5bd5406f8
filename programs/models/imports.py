"""Imports staff (the admin) and partners (the API) run from CSV or Excel files: members
with their opening balances, bulk point adjustments, purchase history.

A file is stored in the database in parts (``ImportFilePart``): an upload through the API
arrives in parts, a worker on any machine reads it, and a restart finds it where it was.
The job goes uploading -> checking -> checked (the dry run: counts, totals, every bad
row) -> committing -> done; or cancelled / failed. The file's SHA-256 is its key: the
same file for the same partner and kind is the same job, so a second upload writes
nothing new.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .partner import Partner
from .program import Program


class ImportKind(models.TextChoices):
    MEMBERS = "members", _("Members and opening balances")
    POINTS = "points", _("Point adjustments")
    PURCHASES = "purchases", _("Purchase history")


class ImportStatus(models.TextChoices):
    UPLOADING = "uploading", _("Uploading")
    CHECKING = "checking", _("Dry run in progress")
    CHECKED = "checked", _("Dry run ready: waiting for confirmation")
    COMMITTING = "committing", _("Importing")
    DONE = "done", _("Imported")
    CANCELLED = "cancelled", _("Cancelled")
    FAILED = "failed", _("Failed")


class ImportEncoding(models.TextChoices):
    AUTO = "auto", _("Detect")
    UTF8 = "utf-8", _("UTF-8")
    CP1252 = "cp1252", _("Windows-1252 (Excel on Windows)")


class ImportDelimiter(models.TextChoices):
    AUTO = "auto", _("Detect")
    SEMICOLON = ";", _("Semicolon ;")
    COMMA = ",", _("Comma ,")
    TAB = "\t", _("Tab")


class ImportDecimal(models.TextChoices):
    AUTO = "auto", _("Detect (comma with ; as separator)")
    COMMA = ",", _("Decimal comma: 1.234,56")
    POINT = ".", _("Decimal point: 1,234.56")


class ImportJob(models.Model):
    kind = models.CharField(_("kind"), max_length=12, choices=ImportKind.choices)
    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner (whose customer ids the file uses)"),
        on_delete=models.PROTECT,
        related_name="imports",
    )
    program = models.ForeignKey(
        Program,
        verbose_name=_("program"),
        on_delete=models.PROTECT,
        related_name="imports",
        help_text=_("Rows without a program column belong to this program."),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=ImportStatus.choices, default=ImportStatus.UPLOADING
    )
    file_name = models.CharField(_("file"), max_length=255)
    file_sha256 = models.CharField(_("SHA-256 of the file"), max_length=64, blank=True)
    file_size = models.BigIntegerField(_("size (bytes)"), default=0)
    file_format = models.CharField(_("format"), max_length=4, default="csv")  # csv, xlsx
    encoding = models.CharField(
        _("character encoding"),
        max_length=8,
        choices=ImportEncoding.choices,
        default=ImportEncoding.AUTO,
    )
    delimiter = models.CharField(
        _("separator"), max_length=4, choices=ImportDelimiter.choices, default=ImportDelimiter.AUTO
    )
    decimal = models.CharField(
        _("decimal mark"), max_length=4, choices=ImportDecimal.choices, default=ImportDecimal.AUTO
    )
    detected = models.JSONField(_("detected format"), default=dict, blank=True)
    notify = models.BooleanField(
        _("send e-mails and webhooks"),
        default=False,
        help_text=_(
            "Off: the import informs nobody (no customer e-mails, no partner webhooks). On: "
            "as if each row had arrived through the API."
        ),
    )
    award_points = models.BooleanField(
        _("award points for imported purchases"),
        default=False,
        help_text=_(
            "Off: imported purchases count toward tiers and metrics but earn no points "
            "(the points usually came with the opening balance)."
        ),
    )
    default_reason = models.CharField(_("reason for rows without one"), max_length=255, blank=True)
    language = models.CharField(_("language of messages"), max_length=8, default="de")
    summary = models.JSONField(_("dry run"), default=dict, blank=True)
    plan_digest = models.CharField(_("fingerprint of the dry run"), max_length=64, blank=True)
    confirmed_digest = models.CharField(
        _("fingerprint confirmed"), max_length=64, blank=True, editable=False
    )
    message = models.TextField(_("message"), blank=True)
    rows_total = models.PositiveIntegerField(_("rows"), default=0)
    rows_checked = models.PositiveIntegerField(_("rows checked"), default=0)
    rows_error = models.PositiveIntegerField(_("bad rows"), default=0)
    rows_done = models.PositiveIntegerField(_("rows imported"), default=0)
    line_done = models.PositiveIntegerField(
        _("last line imported"), default=0, editable=False
    )  # the checkpoint a restarted worker continues from
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("started by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    via_api = models.BooleanField(_("through the API"), default=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    checked_at = models.DateTimeField(_("dry run finished"), null=True, blank=True)
    started_at = models.DateTimeField(_("import started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "kind", "file_sha256"],
                condition=~Q(file_sha256="") & ~Q(status__in=["failed", "cancelled"]),
                name="importjob_unique_file",
            ),
            models.CheckConstraint(
                condition=Q(rows_done__lte=models.F("rows_total")) | Q(rows_total=0),
                name="importjob_done_lte_total",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.file_name}"

    @property
    def is_running(self) -> bool:
        return self.status in (ImportStatus.CHECKING, ImportStatus.COMMITTING)

    @property
    def percent(self) -> int:
        if self.status == ImportStatus.COMMITTING and self.rows_total:
            return min(100, round(100 * self.rows_done / self.rows_total))
        if self.status == ImportStatus.CHECKING and self.rows_total:
            return min(100, round(100 * self.rows_checked / self.rows_total))
        return 100 if self.status == ImportStatus.DONE else 0


class ImportFilePart(models.Model):
    """One part of an uploaded file, in order (parts of at most 1 MiB)."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="parts")
    number = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="importfilepart_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.number}"


class ImportRowError(models.Model):
    """A bad row: where it is (line, column) and how to fix it, in the job's language.
    ``phase`` says whether the dry run found it or the import (data changed meanwhile)."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField(_("line"))
    column = models.CharField(_("column"), max_length=100, blank=True)
    message = models.TextField(_("what to fix"))
    phase = models.CharField(_("found by"), max_length=10, default="check")

    class Meta:
        verbose_name = _("bad row")
        verbose_name_plural = _("bad rows")
        ordering = ["line", "id"]
        indexes = [models.Index(fields=["job", "line"], name="importrowerror_job_line")]

    def __str__(self) -> str:
        return f"{self.line}: {self.message}"
