"""The staff metrics dashboard: reads only the snapshots, so it stays fast at any size."""

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from programs.models import Partner, Program, Tier
from surveys import charts
from surveys.exports import csv_response
from surveys.selectors import (
    WINDOWS,
    Filters,
    cohort_rows,
    latest_stocks,
    metric_periods,
    summary,
)
from surveys.services.snapshots import snapshots_build

EXPORTS = ("nps", "split", "points", "cohorts", "tiers", "engagement")


class FilterForm(forms.Form):
    program = forms.ModelChoiceField(
        Program.objects.order_by("name"),
        required=False,
        label=gettext_lazy("program"),
        empty_label=gettext_lazy("all programs"),
    )
    tier = forms.ModelChoiceField(
        Tier.objects.select_related("program").order_by("program__name", "rank"),
        required=False,
        label=gettext_lazy("tier"),
        empty_label=gettext_lazy("all tiers"),
    )
    partner = forms.ModelChoiceField(
        Partner.objects.order_by("name"),
        required=False,
        label=gettext_lazy("partner"),
        empty_label=gettext_lazy("all partners"),
    )
    granularity = forms.ChoiceField(
        choices=[("month", gettext_lazy("months")), ("quarter", gettext_lazy("quarters"))],
        required=False,
        label=gettext_lazy("per"),
    )
    months = forms.TypedChoiceField(
        choices=[(6, "6"), (12, "12"), (18, "18"), (24, "24"), (36, "36")],
        coerce=int,
        required=False,
        empty_value=18,
        label=gettext_lazy("months back"),
    )

    def filters(self) -> Filters:
        data = self.cleaned_data if self.is_valid() else {}
        return Filters(
            program=data.get("program"),
            tier=data.get("tier"),
            partner=data.get("partner"),
            granularity=data.get("granularity") or "month",
            months=data.get("months") or 18,
        )


def _pct(value):
    return None if value is None else round(value * 100, 1)


@method_decorator(staff_member_required, name="dispatch")
class DashboardView(View):
    admin_site = None

    def get(self, request):
        form = FilterForm(request.GET or None)
        filters = form.filters()
        periods = metric_periods(filters)
        labels = [p.label for p in periods]
        stocks = latest_stocks(filters)
        cohorts = cohort_rows(filters)
        export = request.GET.get("export")
        if export in EXPORTS:
            return self._export(export, periods, stocks, cohorts)
        nps_points = [(p.nps.score, p.nps.margin_of_error) if p.nps else None for p in periods]
        split = [
            (_("Promoters (9-10)"), "promoters", [p.counts["nps_promoters"] for p in periods]),
            (_("Passives (7-8)"), "passives", [p.counts["nps_passives"] for p in periods]),
            (_("Detractors (0-6)"), "detractors", [p.counts["nps_detractors"] for p in periods]),
        ]
        points = [
            (_("issued"), "issued", [p.counts["points_issued"] for p in periods]),
            (_("redeemed"), "redeemed", [p.counts["points_redeemed"] for p in periods]),
            (_("expired"), "expired", [p.counts["points_expired"] for p in periods]),
        ]
        has_nps = any(nps_points)
        figures = summary(periods)
        context = {
            **(self.admin_site.each_context(request) if self.admin_site else {}),
            "title": _("Metrics dashboard"),
            "form": form,
            "filters": filters,
            "summary": figures,
            "stocks": stocks,
            "query": request.GET.urlencode(),
            "charts": {
                "nps": charts.line_with_band(_("NPS with 95 % margin of error"), labels, nps_points)
                if has_nps
                else charts.empty(_("NPS"), _("No answers in this selection yet.")),
                "split": charts.stacked_bars(_("Promoters, passives, detractors"), labels, split)
                if has_nps
                else charts.empty(_("NPS split"), _("No answers in this selection yet.")),
                "points": charts.grouped_bars(_("Points issued, redeemed, expired"), labels, points)
                if periods
                else charts.empty(_("Points"), _("No snapshots yet.")),
                "cohorts": charts.heatmap(
                    _("Repurchase rate by first-purchase month"),
                    [f"{c['cohort']:%Y-%m} ({c['customers']})" for c in cohorts],
                    [_("%(days)d days") % {"days": d} for d in WINDOWS],
                    [[rate for _d, _n, rate in c["rates"]] for c in cohorts],
                )
                if cohorts
                else charts.empty(_("Cohorts"), _("No purchases yet.")),
                "tiers": charts.horizontal_bars(
                    _("Members by tier"),
                    [
                        (f"{r['program__name']}: {r['tier__name'] or _('no tier')}", r["members"])
                        for r in stocks["tiers"]
                    ],
                )
                if stocks["tiers"]
                else charts.empty(_("Tiers"), _("No snapshots yet.")),
                "engagement": charts.horizontal_bars(
                    _("Members by engagement score"), stocks["engagement"]
                )
                if stocks["engagement"]
                else charts.empty(
                    _("Engagement score distribution"), _("No engagement scores yet.")
                ),
            },
            "legend_split": split,
            "legend_points": points,
            "csat_pct": _pct(figures["csat"]),
            "redemption_pct": _pct(figures["redemption_rate"]),
        }
        return TemplateResponse(request, "surveys/dashboard.html", context)

    def _export(self, name, periods, stocks, cohorts):
        if name == "nps":
            rows = [
                [
                    p.label,
                    p.counts["nps_promoters"],
                    p.counts["nps_passives"],
                    p.counts["nps_detractors"],
                    *(
                        [f"{p.nps.score:.2f}", f"{p.nps.margin_of_error:.2f}"]
                        if p.nps
                        else ["", ""]
                    ),
                ]
                for p in periods
            ]
            header = ["period", "promoters", "passives", "detractors", "nps", "margin_95"]
        elif name == "split":
            header = ["period", "promoters", "passives", "detractors"]
            rows = [
                [
                    p.label,
                    p.counts["nps_promoters"],
                    p.counts["nps_passives"],
                    p.counts["nps_detractors"],
                ]
                for p in periods
            ]
        elif name == "points":
            header = ["period", "issued", "redeemed", "expired"]
            rows = [
                [
                    p.label,
                    p.counts["points_issued"],
                    p.counts["points_redeemed"],
                    p.counts["points_expired"],
                ]
                for p in periods
            ]
        elif name == "cohorts":
            header = ["cohort", "customers", *[f"within_{d}_days" for d in WINDOWS]]
            rows = [
                [f"{c['cohort']:%Y-%m}", c["customers"], *[n for _d, n, _r in c["rates"]]]
                for c in cohorts
            ]
        elif name == "engagement":
            header = ["engagement_score", "members"]
            rows = [list(row) for row in stocks["engagement"]]
        else:
            header = [
                "program",
                "tier",
                "members",
                "active",
                "at_risk",
                "dormant",
                "points_outstanding",
            ]
            rows = [
                [
                    r["program__name"],
                    r["tier__name"] or "",
                    r["members"],
                    r["members_active"],
                    r["members_at_risk"],
                    r["members_dormant"],
                    r["points_outstanding"],
                ]
                for r in stocks["tiers"]
            ]
        return csv_response(f"dashboard-{name}.csv", header, rows)


@method_decorator(staff_member_required, name="dispatch")
class SnapshotRebuildView(View):
    def post(self, request):
        rows = snapshots_build(months=None)
        messages.success(request, _("Snapshots rebuilt: %(n)d rows.") % {"n": rows})
        return redirect("admin:surveys_metricsdashboard_changelist")
