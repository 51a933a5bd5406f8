"""Imports in the admin: upload a file (members, point adjustments, purchase history),
read the dry run (counts, totals, every bad row with line, column and how to fix it),
confirm it or cancel; a big file runs in the background and its page shows the progress.
The work is done by ``programs.imports`` (uploads, dry runs, commits); these views only call it."""

from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from loyalty_site.core.downloads import csv_response
from programs.admin.base import ServiceWrittenAdmin, render_form_page
from programs.errors import LoyaltyError
from programs.imports.commits import import_cancel, import_confirm
from programs.imports.uploads import import_create
from programs.models import (
    ImportDecimal,
    ImportDelimiter,
    ImportEncoding,
    ImportJob,
    ImportKind,
    ImportRowError,
    ImportStatus,
    Partner,
    Program,
)

JOB_TEMPLATE = "admin/programs/importjob/job.html"
ERRORS_SHOWN = 200
MAX_UPLOAD_BYTES = 500 * 1024 * 1024


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("what the file holds"), choices=ImportKind.choices)
    partner = forms.ModelChoiceField(
        label=gettext_lazy("partner"),
        queryset=Partner.objects.filter(is_active=True).order_by("name"),
        help_text=gettext_lazy("The customer ids in the file are this partner's ids."),
    )
    program = forms.ModelChoiceField(
        label=gettext_lazy("program"),
        queryset=Program.objects.filter(is_active=True).order_by("name"),
        help_text=gettext_lazy("For rows without a program column."),
    )
    file = forms.FileField(
        label=gettext_lazy("file"),
        help_text=gettext_lazy("CSV or Excel (.xlsx); see docs/import.md for the columns."),
    )
    encoding = forms.ChoiceField(
        label=gettext_lazy("character encoding"), choices=ImportEncoding.choices
    )
    delimiter = forms.ChoiceField(label=gettext_lazy("separator"), choices=ImportDelimiter.choices)
    decimal = forms.ChoiceField(label=gettext_lazy("decimal mark"), choices=ImportDecimal.choices)
    default_reason = forms.CharField(
        label=gettext_lazy("reason for rows without one"),
        required=False,
        max_length=255,
        help_text=gettext_lazy("Point adjustments: kept in the ledger with each row."),
    )
    award_points = forms.BooleanField(
        label=gettext_lazy("award points for imported purchases"), required=False
    )
    notify = forms.BooleanField(
        label=gettext_lazy("send e-mails and webhooks"),
        required=False,
        help_text=gettext_lazy(
            "Off: nobody is informed (no customer e-mails, no partner webhooks)."
        ),
    )

    def clean(self):
        data = super().clean()
        partner, program = data.get("partner"), data.get("program")
        if partner and program and not partner.programs.filter(pk=program.pk).exists():
            self.add_error("program", _("This partner does not take part in that program."))
        upload = data.get("file")
        if upload is not None and upload.size > MAX_UPLOAD_BYTES:
            self.add_error(
                "file", _("The file is larger than 500 MB; split it or use the partner API.")
            )
        return data


@admin.register(ImportJob)
class ImportJobAdmin(ServiceWrittenAdmin):
    allow_add = True
    list_display = (
        "created_at",
        "kind",
        "file_name",
        "partner",
        "status",
        "rows_total",
        "rows_error",
        "rows_done",
        "created_by",
    )
    list_filter = ("kind", "status", "partner")
    list_select_related = ("partner", "created_by")
    date_hierarchy = "created_at"
    search_fields = ("file_name",)

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("<int:job_id>/confirm/", view(self.confirm_view), name=f"{info}_confirm"),
            path("<int:job_id>/cancel/", view(self.cancel_view), name=f"{info}_cancel"),
            path("<int:job_id>/errors.csv", view(self.errors_view), name=f"{info}_errors"),
            *super().get_urls(),
        ]

    def admin_url(self, name: str, *args) -> str:
        from django.urls import reverse

        info = f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}"
        return reverse(f"{info}_{name}", args=args)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            upload = data["file"]
            try:
                job = import_create(
                    kind=data["kind"],
                    partner=data["partner"],
                    program=data["program"],
                    file=upload,
                    file_name=upload.name,
                    user=request.user,
                    encoding=data["encoding"],
                    delimiter=data["delimiter"],
                    decimal=data["decimal"],
                    default_reason=data["default_reason"],
                    award_points=data["award_points"],
                    notify=data["notify"],
                )
            except LoyaltyError as error:
                form.add_error(None, str(error.message))
            else:
                if job.created_by_id != request.user.pk or job.created_at < timezone.now() - (
                    timedelta(minutes=1)
                ):
                    self.message_user(
                        request,
                        _("This file was imported before; here is that import."),
                        messages.WARNING,
                    )
                return redirect(self.admin_url("change", job.pk))
        return render_form_page(
            self,
            request,
            form=form,
            title=_("Import a file"),
            submit_label=_("Upload and start the dry run"),
            intro=_(
                "Nothing is written before you have seen the dry run and confirmed it. "
                "German spreadsheets (; separator, decimal comma, Windows-1252) are read as "
                "they are."
            ),
        )

    def _job(self, request, job_id) -> ImportJob:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(
            ImportJob.objects.select_related("partner", "program", "created_by"), pk=job_id
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self._job(request, object_id)
        request.current_app = self.admin_site.name
        errors = list(ImportRowError.objects.filter(job=job)[:ERRORS_SHOWN])
        summary = dict(job.summary or {})
        summary["history"] = [  # dates as the staff member's locale writes them
            {
                **moved,
                "from": date.fromisoformat(moved["from"]),
                "to": date.fromisoformat(moved["to"]),
            }
            for moved in summary.get("history") or ()
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": str(job),
            "job": job,
            "summary": summary,
            "actions": sorted((summary.get("actions") or {}).items()),
            "errors": errors,
            "errors_more": max(0, job.rows_error - len(errors)),
            "running": job.is_running,
            "may_confirm": job.status == ImportStatus.CHECKED
            and summary.get("valid")
            and self.has_add_permission(request),
            "may_cancel": job.status
            in (ImportStatus.CHECKED, ImportStatus.CHECKING, ImportStatus.COMMITTING)
            and self.has_add_permission(request),
            "confirm_url": self.admin_url("confirm", job.pk),
            "cancel_url": self.admin_url("cancel", job.pk),
            "errors_url": self.admin_url("errors", job.pk),
            "time_left": _time_left(job),
        }
        return TemplateResponse(request, JOB_TEMPLATE, context)

    def confirm_view(self, request, job_id):
        job = self._job(request, job_id)
        if request.method != "POST" or not self.has_add_permission(request):
            raise PermissionDenied
        try:
            import_confirm(job, digest=request.POST.get("digest", ""))
        except LoyaltyError as error:
            self.message_user(request, str(error.message), messages.ERROR)
        else:
            self.message_user(request, _("The import runs; this page shows its progress."))
        return redirect(self.admin_url("change", job.pk))

    def cancel_view(self, request, job_id):
        job = self._job(request, job_id)
        if request.method != "POST" or not self.has_add_permission(request):
            raise PermissionDenied
        try:
            import_cancel(job)
        except LoyaltyError as error:
            self.message_user(request, str(error.message), messages.ERROR)
        else:
            self.message_user(request, _("The import was cancelled."), messages.WARNING)
        return redirect(self.admin_url("change", job.pk))

    def errors_view(self, request, job_id):
        job = self._job(request, job_id)
        rows = (
            ImportRowError.objects.filter(job=job)
            .order_by("line", "id")
            .values_list("line", "column", "message")
            .iterator(chunk_size=2000)
        )
        return csv_response(
            f"import-{job.pk}-errors.csv",
            [pgettext("import file", "line"), _("column"), _("what to fix")],
            rows,
        )


def _time_left(job: ImportJob) -> str:
    """A rough estimate from the pace so far (the import's rows, or the dry run's)."""
    if job.status == ImportStatus.COMMITTING and job.started_at and job.rows_done:
        done, started = job.rows_done, job.started_at
    elif job.status == ImportStatus.CHECKING and job.rows_checked:
        done, started = job.rows_checked, job.created_at
    else:
        return ""
    total = job.rows_total or 0
    if not total or done >= total:
        return ""
    elapsed = (timezone.now() - started).total_seconds()
    seconds = round(elapsed / done * (total - done))
    minutes, seconds = divmod(seconds, 60)
    return _("about %(minutes)s min %(seconds)s s") % {"minutes": minutes, "seconds": seconds}
