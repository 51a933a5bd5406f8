"""The page "Punktebuchungen exportieren": a program's ledger entries of a period for
accounting, as CSV or Excel (``programs.admin.ledger_exports``), chosen in a small GET
form (program, first and last day, date basis, format).

It hangs off the ledger's admin (``LedgerPeriodExportPage`` is mixed into
``LedgerEntryAdmin``: ``admin:programs_ledgerentry_period_export``, a button on the
ledger's list). Unlike the settlement page, which follows the ledger's view permission,
it is for the roles that see the money side: it needs the ledger's and the purchases'
view permissions (Finanzen and Administration; Kundenservice and Programm-Management see
the ledger but not purchases). Each export leaves a row in the staff audit log: the
file names members. A file (Excel or CSV) too long to write while staff wait is written
by a worker (``period_job_file`` builds the same export again from the job)."""

from datetime import date

from django import forms
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from programs.admin.export_files import FILE_FORMATS, ExportFile, export_answer, export_logged
from programs.admin.ledger_exports import (
    EFFECTIVE,
    RECORDED,
    period_entries,
    period_ledger_filename,
    period_ledger_header,
    period_ledger_rows,
)
from programs.models import ExportJob, ExportKind, Program

TEMPLATE = "admin/programs/ledgerentry/period_export.html"
FINANCE_PERMISSIONS = ("programs.view_ledgerentry", "programs.view_purchase")


def may_export_period(user) -> bool:
    return user.has_perms(FINANCE_PERMISSIONS)


class PeriodExportForm(forms.Form):
    program = forms.ModelChoiceField(
        queryset=Program.objects.order_by("name"),
        label=gettext_lazy("program"),
        empty_label=None,
    )
    first = forms.DateField(
        label=gettext_lazy("first day"), widget=forms.DateInput(attrs={"type": "date"})
    )
    last = forms.DateField(
        label=gettext_lazy("last day"),
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("Both days included."),
    )
    basis = forms.ChoiceField(
        label=gettext_lazy("date of the entry"),
        choices=[
            (RECORDED, gettext_lazy("recorded (for the books)")),
            (EFFECTIVE, gettext_lazy("effective (e.g. the purchase's date)")),
        ],
        initial=RECORDED,
    )
    file_format = forms.ChoiceField(
        label=gettext_lazy("format"), choices=list(FILE_FORMATS.items()), initial="csv"
    )

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("first"), cleaned.get("last")
        if first and last and last < first:
            self.add_error("last", _("The last day cannot be before the first."))
        return cleaned


class LedgerPeriodExportPage:
    """Mixed into the ledger's ``ModelAdmin``: the export page's URL and view."""

    def get_urls(self):
        view = self.admin_site.admin_view(self.period_export_view)
        return [
            path("export/", view, name="programs_ledgerentry_period_export"),
            *super().get_urls(),
        ]

    def period_export_view(self, request):
        if not may_export_period(request.user):
            raise PermissionDenied
        form = PeriodExportForm(request.GET or None)
        if form.is_valid():
            data = form.cleaned_data
            program, first, last = data["program"], data["first"], data["last"]
            basis, file_format = data["basis"], data["file_format"]
            basis_label = dict(form.fields["basis"].choices)[basis]
            export_logged(
                request,
                action="export_ledger_period",
                description=_("Ledger entries of a period exported"),
                file_format=file_format,
                model=self.opts.label_lower,
                what=f"{program.name}: {first.isoformat()} - {last.isoformat()}, {basis_label}",
            )
            export = period_file(program, first, last, basis, file_format)
            params = {
                "program": program.pk,
                "first": first.isoformat(),
                "last": last.isoformat(),
                "basis": basis,
            }
            return export_answer(
                request, file_format, export, kind=ExportKind.LEDGER_PERIOD, params=params
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Export ledger entries of a period"),
            "form": form,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, TEMPLATE, context)


def period_file(program: Program, first: date, last: date, basis: str, file_format: str):
    return ExportFile(
        counted=period_entries(program, first, last, basis=basis),
        header=period_ledger_header(),
        rows=period_ledger_rows(program, first, last, basis=basis),
        filename=period_ledger_filename(program, first, last, extension=file_format),
        sheet_title=_("Ledger entries"),
    )


def period_job_file(job: ExportJob) -> ExportFile:
    """The period export of ``job``, for a staff member who may still export it."""
    if not may_export_period(job.user):
        raise PermissionDenied(_("You may no longer export ledger entries."))
    params = job.params
    program = Program.objects.get(pk=params["program"])
    first, last = date.fromisoformat(params["first"]), date.fromisoformat(params["last"])
    return period_file(program, first, last, params["basis"], job.file_format)
