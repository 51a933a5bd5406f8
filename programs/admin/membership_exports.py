"""Exports of the membership admin, as CSV or Excel:

* the members: the buttons above the list export the members the list shows, with its
  filters and search (``export/<format>/?<the list's query>``), every one of them, not
  one page;
* one member's ledger: the buttons on a membership's page (``<id>/ledger/<format>/``).

The member list is personal data in bulk: it is for the staff who may export a segment's
members (``programs.view_segment``: Programm-Management and Administration), since a
segment with no conditions is every member anyway. A member's ledger is for whoever may
view the membership and the ledger (Kundenservice too: it answers a member's questions
about their points). Each export leaves a row in the staff audit log. A file (Excel or
CSV) too long to write while staff wait is written by a worker (``members_job_file`` and
``member_ledger_job_file`` build the same export again from the job)."""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseRedirect, QueryDict
from django.urls import path
from django.utils.translation import gettext as _

from programs.admin.export_files import FILE_FORMATS, ExportFile, export_answer, export_logged
from programs.admin.ledger_exports import (
    membership_ledger_filename,
    membership_ledger_header,
    membership_ledger_rows,
)
from programs.member_exports import (
    members_export_filename,
    members_export_header,
    members_export_rows,
)
from programs.models import ExportJob, ExportKind, LedgerEntry, Membership

MEMBERS_EXPORT_PERMISSIONS = (
    "programs.view_membership",
    "customers.view_customer",
    "programs.view_segment",
)
LEDGER_EXPORT_PERMISSION = "programs.view_ledgerentry"
EXPORTING = "_members_export"  # set on the request while the export reads the list


class MembershipExports(admin.ModelAdmin):
    """Mixed into ``MembershipAdmin`` before its other parts."""

    def has_members_export_permission(self, request) -> bool:
        return request.user.has_perms(MEMBERS_EXPORT_PERMISSIONS)

    def has_ledger_export_permission(self, request, obj=None) -> bool:
        return self.has_view_permission(request, obj) and request.user.has_perm(
            LEDGER_EXPORT_PERMISSION
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "export/<str:file_format>/",
                view(self.members_export_view),
                name=f"{info}_export",
            ),
            path(
                "<path:object_id>/ledger/<str:file_format>/",
                view(self.ledger_export_view),
                name=f"{info}_ledger_export",
            ),
            *super().get_urls(),
        ]

    # --- the member list -------------------------------------------------------------------
    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        if self.has_members_export_permission(request):
            extra_context["export_tools"] = [
                (_("Export as CSV"), self.admin_url("export", "csv")),
                (_("Export as Excel"), self.admin_url("export", "xlsx")),
            ]
        return super().changelist_view(request, extra_context)

    def get_changelist(self, request, **kwargs):
        changelist = super().get_changelist(request, **kwargs)
        if not getattr(request, EXPORTING, False):
            return changelist

        class ExportList(changelist):
            """The list's filters, search and permissions, without reading a page of
            results or counting them: the export reads every row itself."""

            def get_results(self, request):
                self.result_list = self.queryset.none()

        return ExportList

    def export_memberships(self, request):
        """The memberships the list shows for ``request`` (its filters, search and the
        user's permissions), every one of them."""
        setattr(request, EXPORTING, True)
        try:
            return self.get_changelist_instance(request).queryset
        finally:
            setattr(request, EXPORTING, False)

    def members_export_view(self, request, file_format):
        if file_format not in FILE_FORMATS:
            raise Http404
        if not self.has_members_export_permission(request):
            raise PermissionDenied
        back = self.admin_url("changelist")
        query = request.GET.urlencode()
        try:
            memberships = self.export_memberships(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(f"{back}?e=1")
        export_logged(
            request,
            action="export_members",
            description=_("Members exported"),
            file_format=file_format,
            model=self.opts.label_lower,
            what=_("List filter: %(query)s") % {"query": query} if query else _("All members"),
        )
        export = members_file(memberships, file_format)
        return export_answer(
            request, file_format, export, kind=ExportKind.MEMBERS, params={"query": query}
        )

    # --- one member's ledger ---------------------------------------------------------------
    def object_tools(self, request, obj):
        tools = super().object_tools(request, obj)
        if self.has_ledger_export_permission(request, obj):
            tools += [
                (_("Ledger as CSV"), self.admin_url("ledger_export", obj.pk, "csv")),
                (_("Ledger as Excel"), self.admin_url("ledger_export", obj.pk, "xlsx")),
            ]
        return tools

    def ledger_export_view(self, request, object_id, file_format):
        if file_format not in FILE_FORMATS:
            raise Http404
        membership = self.get_object(request, unquote(object_id))
        if membership is None:
            raise Http404
        if not self.has_ledger_export_permission(request, membership):
            raise PermissionDenied
        export_logged(
            request,
            action="export_ledger",
            description=_("Member's ledger exported"),
            file_format=file_format,
            model=self.opts.label_lower,
            object_id=membership.pk,
            what=str(membership),
            customer_id=membership.customer_id,
        )
        export = member_ledger_file(membership, file_format)
        return export_answer(
            request,
            file_format,
            export,
            kind=ExportKind.MEMBER_LEDGER,
            params={"membership": membership.pk},
        )


def members_file(memberships, file_format: str) -> ExportFile:
    return ExportFile(
        counted=memberships,
        header=members_export_header(),
        rows=members_export_rows(memberships),
        filename=members_export_filename(extension=file_format),
        sheet_title=_("Members"),
    )


def member_ledger_file(membership: Membership, file_format: str) -> ExportFile:
    return ExportFile(
        counted=LedgerEntry.objects.filter(membership=membership),
        header=membership_ledger_header(),
        rows=membership_ledger_rows(membership),
        filename=membership_ledger_filename(membership, extension=file_format),
        sheet_title=_("Ledger"),
    )


def _job_request(job: ExportJob) -> HttpRequest:
    """A GET request of the staff member who started ``job``, with the list's query it
    stored: what the admin reads to build the export, in the worker."""
    request = HttpRequest()
    request.method = "GET"
    request.GET = QueryDict(job.params.get("query", ""))
    request.user = job.user
    return request


def members_job_file(job: ExportJob) -> ExportFile:
    """The members export of ``job``: the list rebuilt from the query it showed, with the
    permissions of the staff member who started it, as the direct export reads it."""
    request = _job_request(job)
    model_admin = admin.site.get_model_admin(Membership)
    if not model_admin.has_members_export_permission(request):
        raise PermissionDenied(_("You may no longer export members."))
    return members_file(model_admin.export_memberships(request), job.file_format)


def member_ledger_job_file(job: ExportJob) -> ExportFile:
    model_admin = admin.site.get_model_admin(Membership)
    membership = Membership.objects.get(pk=job.params["membership"])
    if not model_admin.has_ledger_export_permission(_job_request(job), membership):
        raise PermissionDenied(_("You may no longer export this ledger."))
    return member_ledger_file(membership, job.file_format)
