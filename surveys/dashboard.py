"""The staff metrics dashboard: reads only the snapshots, so it stays fast at any size.
Every figure, its formula and its counting rule: docs/metrics.md."""

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from programs.models import Partner, Program, Tier
from surveys import charts
from surveys.dashboard_exports import EXPORTS, export_response
from surveys.figures.spans import DEFAULT_WINDOW_MONTHS, WINDOW_MONTHS
from surveys.member_value_selectors import programs_value_summaries
from surveys.metrics.formulas import MIN_ANSWERS
from surveys.program_figures import currency_liabilities, program_figures, retention_series
from surveys.selectors import (
    NOT_YET,
    WINDOWS,
    Filters,
    cohort_rows,
    latest_stocks,
    metric_periods,
    retention_of,
    summary,
)
from surveys.services.snapshots import snapshots_build

DEFAULTS = {"months": str(DEFAULT_WINDOW_MONTHS), "granularity": "month"}


class _ChoicesInOneQuery(forms.models.ModelChoiceIterator):
    """A select's choices read with one plain query. The default iterates with
    ``QuerySet.iterator()``, which on PostgreSQL opens a server-side cursor: three round
    trips per select (DECLARE, FETCH, CLOSE), for a handful of rows."""

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in self.queryset:
            yield self.choice(obj)


class _ModelChoiceField(forms.ModelChoiceField):
    iterator = _ChoicesInOneQuery


class FilterForm(forms.Form):
    program = _ModelChoiceField(
        Program.objects.order_by("name"),
        required=False,
        label=gettext_lazy("program"),
        empty_label=gettext_lazy("all programs"),
    )
    tier = _ModelChoiceField(
        Tier.objects.select_related("program").order_by("program__name", "rank"),
        required=False,
        label=gettext_lazy("tier"),
        empty_label=gettext_lazy("all tiers"),
    )
    partner = _ModelChoiceField(
        Partner.objects.order_by("name"),
        required=False,
        label=gettext_lazy("partner"),
        empty_label=gettext_lazy("all partners"),
    )
    granularity = forms.ChoiceField(
        choices=[("month", gettext_lazy("months")), ("quarter", gettext_lazy("quarters"))],
        label=gettext_lazy("per"),
    )
    months = forms.TypedChoiceField(
        choices=[(m, str(m)) for m in WINDOW_MONTHS],
        coerce=int,
        label=gettext_lazy("months back"),
    )

    def __init__(self, data: QueryDict | None = None, **kwargs):
        """Always bound, with the defaults for what the query leaves out: the selects
        show the months and granularity the charts use, on the first load too."""
        bound = data.copy() if data is not None else QueryDict(mutable=True)
        for name, value in DEFAULTS.items():
            if not bound.get(name):
                bound[name] = value
        super().__init__(bound, **kwargs)

    def filters(self) -> Filters:
        self.is_valid()
        data = self.cleaned_data  # the valid fields; a wrong one falls back to its default
        return Filters(
            program=data.get("program"),
            tier=data.get("tier"),
            partner=data.get("partner"),
            granularity=data.get("granularity") or DEFAULTS["granularity"],
            months=data.get("months") or DEFAULT_WINDOW_MONTHS,
        )


def _pct(value):
    return None if value is None else round(value * 100, 1)


def _nps_point(period):
    report = period.nps
    if report is None:
        return None
    if report.too_few_answers:
        note = _("%(score).1f (n = %(n)d, too few answers)") % {
            "score": report.score,
            "n": report.n,
        }
    else:
        note = _("%(score).1f ± %(margin).1f (n = %(n)d)") % {
            "score": report.score,
            "margin": report.margin_of_error,
            "n": report.n,
        }
    return (report.score, report.margin_of_error, note)


def _charts(filters, periods, stocks, cohorts, retention) -> dict:
    labels = [p.label for p in periods]
    nps_points = [_nps_point(p) for p in periods]
    has_nps = any(nps_points)
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
    no_answers = _("No answers in this selection yet.")
    not_yet = _("not yet: the window has not passed for the whole cohort")
    retention_labels, retention_lines = retention
    return {
        "legend_split": split,
        "legend_points": points,
        "legend_retention": [
            (name, f"series-{k % charts.SERIES_CLASSES}")
            for k, (name, _values) in enumerate(retention_lines)
        ],
        "nps": charts.line_with_band(_("NPS with 95 % margin of error"), labels, nps_points)
        if has_nps
        else charts.empty(_("NPS"), no_answers),
        "split": charts.stacked_bars(_("Promoters, passives, detractors"), labels, split)
        if has_nps
        else charts.empty(_("NPS split"), no_answers),
        "points": charts.grouped_bars(_("Points issued, redeemed, expired"), labels, points)
        if periods
        else charts.empty(_("Points"), _("No snapshots yet.")),
        "retention": charts.lines(_("Retention per period"), retention_labels, retention_lines)
        if any(v is not None for _name, values in retention_lines for v in values)
        else charts.empty(_("Retention"), _("No complete period with buyers yet.")),
        "cohorts": charts.heatmap(
            _("Repurchase rate by first-purchase month"),
            [f"{c['cohort']:%Y-%m} ({c['customers']})" for c in cohorts],
            [_("%(days)d days") % {"days": d} for d in WINDOWS],
            [[not_yet if r is NOT_YET else r for *_x, r in c["rates"]] for c in cohorts],
        )
        if cohorts
        else charts.empty(_("Cohorts"), _("No first purchases in these months.")),
        "tiers": charts.horizontal_bars(
            _("Members by tier"),
            [
                (f"{r['program__name']}: {r['tier__name'] or _('no tier')}", r["members"])
                for r in stocks["tiers"]
            ],
        )
        if stocks["tiers"]
        else charts.empty(_("Tiers"), _("No snapshots yet.")),
        "engagement": charts.horizontal_bars(_("Members by engagement score"), stocks["engagement"])
        if stocks["engagement"]
        else charts.empty(_("Engagement score distribution"), _("No engagement scores yet.")),
    }


@method_decorator(staff_member_required, name="dispatch")
class DashboardView(View):
    admin_site = None

    def get(self, request):
        form = FilterForm(request.GET)
        filters = form.filters()
        periods = metric_periods(filters)
        stocks = latest_stocks(filters)
        cohorts = cohort_rows(filters)
        retention_labels, counts = retention_series(filters)
        programs = program_figures(filters, stocks=stocks, retention=(retention_labels, counts))
        names = {f.program.pk: f.program.name for f in programs}
        retention = (
            retention_labels,
            [
                (names.get(pid, str(pid)), [None if c is None else retention_of(c) for c in row])
                for pid, row in counts.items()
            ],
        )
        export = request.GET.get("export")
        if export in EXPORTS:
            return export_response(
                export,
                periods=periods,
                stocks=stocks,
                cohorts=cohorts,
                programs=programs,
                retention=(retention_labels, counts, names),
            )
        figures = summary(filters)
        context = {
            **(self.admin_site.each_context(request) if self.admin_site else {}),
            "title": _("Metrics dashboard"),
            "form": form,
            "filters": filters,
            "summary": figures,
            "periods": periods,
            "stocks": stocks,
            "programs": programs,
            "liabilities": currency_liabilities(programs),
            "member_values": programs_value_summaries(
                [f.program for f in programs], partner=filters.partner, months=filters.months
            ),
            "min_answers": MIN_ANSWERS,
            "query": request.GET.urlencode(),
            "charts": _charts(filters, periods, stocks, cohorts, retention),
            "csat_pct": _pct(figures["csat"]),
            "redemption_pct": _pct(figures["redemption_rate"]),
        }
        return TemplateResponse(request, "surveys/dashboard.html", context)


@method_decorator(staff_member_required, name="dispatch")
class SnapshotRebuildView(View):
    def post(self, request):
        rows = snapshots_build(months=None)
        messages.success(request, _("Snapshots rebuilt: %(n)d rows.") % {"n": rows})
        return redirect("admin:surveys_metricsdashboard_changelist")
