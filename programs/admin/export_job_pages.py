"""The page of an export a worker writes (Excel or CSV) (``programs.admin.export_jobs``): the
progress (rows written of the rows counted), refreshed every few seconds while the job
runs, then the download; a failed job (or one without progress for ten minutes) offers
a retry. A job is seen and downloaded only by the staff member who started it, and by
Administration; the download streams the stored parts, never the whole file at once."""

from django.contrib import admin
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _

from loyalty_site.core.downloads import CSV_CONTENT_TYPE, XLSX_CONTENT_TYPE
from programs.admin.export_jobs import KEEP_FILES, export_job_retry, export_job_stalled
from programs.models import ExportFilePart, ExportFormat, ExportJob, ExportStatus

JOB_TEMPLATE = "admin/programs/exportjob/job.html"
CONTENT_TYPES = {ExportFormat.XLSX: XLSX_CONTENT_TYPE, ExportFormat.CSV: CSV_CONTENT_TYPE}
ADMINISTRATION = "Administration"  # the role that sees every staff member's exports


def may_see_export(user, job: ExportJob) -> bool:
    return (
        job.user_id == user.pk
        or user.is_superuser
        or user.groups.filter(name=ADMINISTRATION).exists()
    )


def export_file_parts(job: ExportJob):
    """The file's bytes, one stored part (1 MiB) read at a time."""
    numbers = list(
        ExportFilePart.objects.filter(job=job).order_by("number").values_list("pk", flat=True)
    )
    for pk in numbers:
        yield bytes(ExportFilePart.objects.values_list("data", flat=True).get(pk=pk))


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "file_name", "user", "status", "rows_total")
    list_filter = ("kind", "status")
    list_select_related = ("user",)
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("<int:job_id>/file/", view(self.download_view), name=f"{info}_download"),
            path("<int:job_id>/retry/", view(self.retry_view), name=f"{info}_retry"),
            *super().get_urls(),
        ]

    def _url(self, name: str, job: ExportJob) -> str:
        info = f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}"
        return reverse(f"{info}_{name}", args=[job.pk])

    def _job(self, request, job_id) -> ExportJob:
        """The job, for the staff member who may see it (anyone else: not found)."""
        job = get_object_or_404(ExportJob.objects.select_related("user"), pk=job_id)
        if not may_see_export(request.user, job):
            raise Http404
        return job

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self._job(request, object_id if str(object_id).isdigit() else 0)
        stalled = export_job_stalled(job)
        failed = job.status == ExportStatus.FAILED or stalled
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": str(job),
            "job": job,
            "running": not failed and job.status in (ExportStatus.QUEUED, ExportStatus.RUNNING),
            "failed": failed,
            "stalled": stalled,
            "ready": job.status == ExportStatus.DONE and job.purged_at is None,
            "keep_days": KEEP_FILES.days,
            "download_url": self._url("download", job),
            "retry_url": self._url("retry", job),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, JOB_TEMPLATE, context)

    def download_view(self, request, job_id):
        job = self._job(request, job_id)
        if job.status != ExportStatus.DONE or job.purged_at is not None:
            raise Http404
        response = StreamingHttpResponse(
            export_file_parts(job), content_type=CONTENT_TYPES[job.file_format]
        )
        response["Content-Disposition"] = f'attachment; filename="{job.file_name}"'
        response["Content-Length"] = str(job.file_size)
        return response

    def retry_view(self, request, job_id):
        job = self._job(request, job_id)
        if request.method != "POST":
            return redirect(self._url("change", job))
        if export_job_retry(job):
            self.message_user(request, _("The export starts again."))
        return redirect(self._url("change", job))
