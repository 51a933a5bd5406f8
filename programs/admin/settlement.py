"""The page "Abrechnung": a program's monthly coalition settlement (``programs.settlement``)
for staff, as a table or a CSV file (``?export=csv``).

It hangs off the ledger's admin (``SettlementPage`` is mixed into ``LedgerEntryAdmin``:
``admin:programs_ledgerentry_settlement``, a button on the ledger's list) and is open to
staff who may view ledger entries. Program and month are chosen in a GET form; without
them the page shows the first program and last month."""

from django import forms
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from loyalty_site.core.downloads import csv_response
from programs.models import Program
from programs.settlement import (
    MonthInvalid,
    SettlementFigures,
    SettlementRow,
    last_month,
    ledger_month_sums,
    month_parse,
    settlement_rows,
    settlement_totals,
)

TEMPLATE = "admin/programs/ledgerentry/settlement.html"
PERMISSION = "programs.view_ledgerentry"


class SettlementForm(forms.Form):
    program = forms.ModelChoiceField(
        queryset=Program.objects.order_by("name"),
        label=gettext_lazy("program"),
        empty_label=None,
    )
    month = forms.CharField(
        label=gettext_lazy("month"),
        max_length=7,
        widget=forms.TextInput(attrs={"type": "month", "pattern": "[0-9]{4}-[0-9]{2}"}),
        help_text=gettext_lazy("As YYYY-MM, e.g. 2026-03."),
    )

    def clean_month(self):
        try:
            return month_parse(self.cleaned_data["month"])
        except MonthInvalid as error:
            raise forms.ValidationError(error.message, code=error.code) from None


def direction(figures: SettlementFigures) -> str:
    if figures.net > 0:
        return _("owes the operator")
    if figures.net < 0:
        return _("is owed by the operator")
    return _("settled")


def party_name(row: SettlementRow, program: Program) -> str:
    if row.partner is None:
        return _("Operator (%(program)s)") % {"program": program.name}
    return row.partner.name


def csv_header() -> list[str]:
    return [
        _("Partner"),
        _("Points issued"),
        _("Points redeemed"),
        _("of which redeemed, not yet used"),
        _("of which expired"),
        _("Value issued"),
        _("Value redeemed"),
        _("Net amount"),
        _("Direction"),
        _("Currency"),
    ]


def csv_rows(program: Program, rows: list[SettlementRow], totals: SettlementFigures):
    for row in rows:
        yield [
            party_name(row, program),
            row.points_issued,
            row.points_redeemed,
            row.points_not_yet_used,
            row.points_expired,
            row.value_issued,
            row.value_redeemed,
            row.net,
            "" if row.is_operator else direction(row),
            row.currency,
        ]
    yield [
        _("Total"),
        totals.points_issued,
        totals.points_redeemed,
        sum(row.points_not_yet_used for row in rows),
        sum(row.points_expired for row in rows),
        totals.value_issued,
        totals.value_redeemed,
        totals.net,
        "",
        totals.currency,
    ]


class SettlementPage:
    """Mixed into the ledger's ``ModelAdmin``: the settlement page's URL and view."""

    def get_urls(self):
        view = self.admin_site.admin_view(self.settlement_view)
        return [
            path("settlement/", view, name="programs_ledgerentry_settlement"),
            *super().get_urls(),
        ]

    def settlement_view(self, request):
        if not request.user.has_perm(PERMISSION):
            raise PermissionDenied
        first = Program.objects.order_by("name").values_list("pk", flat=True).first()
        form = SettlementForm(
            {
                "program": request.GET.get("program", first),
                "month": request.GET.get("month", last_month().strftime("%Y-%m")),
            }
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Settlement"),
            "form": form,
        }
        if first is not None and form.is_valid():
            program, month = form.cleaned_data["program"], form.cleaned_data["month"]
            rows = settlement_rows(program, month)
            totals = settlement_totals(program, rows)
            if request.GET.get("export") == "csv":
                return csv_response(
                    f"abrechnung-{program.slug}-{month:%Y-%m}.csv",
                    csv_header(),
                    csv_rows(program, rows, totals),
                )
            context.update(
                title=_("Settlement of %(program)s for %(month)s")
                % {"program": program.name, "month": f"{month:%m/%Y}"},
                program=program,
                rows=[
                    {"name": party_name(row, program), "direction": direction(row), "row": row}
                    for row in rows
                ],
                totals=totals,
                not_yet_used=sum(row.points_not_yet_used for row in rows),
                expired=sum(row.points_expired for row in rows),
                reconciled=ledger_month_sums(program, month).matches(totals),
                csv_query=f"program={program.pk}&month={month:%Y-%m}&export=csv",
            )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, TEMPLATE, context)
