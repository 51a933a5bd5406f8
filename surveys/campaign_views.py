"""Staff pages of the campaign results, beside the metrics dashboard in the admin: the
campaigns with a fixed audience, and one campaign's reached members against its holdout
(with a CSV export of the comparison). Figures: surveys/campaign_results.py."""

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View

from programs.models import Campaign
from surveys.campaign_results import (
    CampaignResults,
    Figure,
    campaign_results,
    campaign_state,
    campaigns_with_audience,
)
from surveys.exports import csv_response
from surveys.metrics.comparison import MIN_GROUP_MEMBERS
from surveys.program_figures import currency_decimals

NOTHING = "\N{EN DASH}"  # no value
FIGURE_TEXTS = {
    "buyer_rate": (
        gettext_lazy("Members who bought"),
        gettext_lazy("members with a purchase in the window / members"),
    ),
    "purchases_per_member": (
        gettext_lazy("Purchases per member"),
        gettext_lazy("purchases in the window / members"),
    ),
    "spend_per_member": (
        gettext_lazy("Spend per member"),
        gettext_lazy("spend net of refunds in the window / members"),
    ),
    "repurchase_rate": (
        gettext_lazy("Repurchase rate"),
        gettext_lazy("members with more than one purchase in the window / members"),
    ),
    "redemption_rate": (
        gettext_lazy("Members who redeemed"),
        gettext_lazy("members with a redemption in the window / members"),
    ),
    "redemptions_per_member": (
        gettext_lazy("Redemptions per member"),
        gettext_lazy("redemptions in the window / members"),
    ),
}
VERDICTS = {
    "higher": gettext_lazy("higher than in the holdout"),
    "lower": gettext_lazy("lower than in the holdout"),
    "unclear": gettext_lazy("no clear difference"),
}
STATES = {
    "planned": gettext_lazy("not started yet"),
    "running": gettext_lazy("still running"),
    "ended": gettext_lazy("ended"),
}
CSV_HEADER = [
    "campaign",
    "currency",
    "window_start",
    "window_end",
    "running",
    "figure",
    "unit",
    "members_reached",
    "members_holdout",
    "reached",
    "holdout",
    "difference",
    "ci_low_95",
    "ci_high_95",
    "relative_lift",
    "interval_note",
]


def _number(value, places: int, *, signed: bool = False) -> str:
    """``value`` rounded half up to ``places`` (number_format alone cuts the digits off),
    in the language's format."""
    value = Decimal(str(value)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    if value == 0:
        value = abs(value)  # no "-0,00"
    text = number_format(value, places, use_l10n=True, force_grouping=True)
    return f"+{text}" if signed and value > 0 else text


class _Shown:
    """A figure's values as shown: shares in percent (differences in percentage points),
    money rounded to the currency, counts with two decimals."""

    def __init__(self, results: CampaignResults):
        self.results = results
        self.decimals = currency_decimals(results.currency)

    def value(self, value, unit: str, *, difference: bool = False) -> str:
        if value is None:
            return NOTHING
        if unit == "share":
            unit_shown = _("pp") if difference else "%"  # percentage points
            return f"{_number(float(value) * 100, 1, signed=difference)} {unit_shown}"
        if unit == "money":
            amount = self.results.money(value)
            return f"{_number(amount, self.decimals, signed=difference)} {self.results.currency}"
        return _number(float(value), 2, signed=difference)

    def interval(self, figure: Figure) -> str:
        d = figure.difference
        if d.note == "too_few":
            return _("too few members (at least %(n)d in each group)") % {"n": MIN_GROUP_MEMBERS}
        if d.note == "no_variation":
            return _("not computable: in each group every member has the same value")
        if d.low is None:
            return NOTHING
        low = self.value(d.low, figure.unit, difference=True)
        high = self.value(d.high, figure.unit, difference=True)
        return _("%(low)s to %(high)s") % {"low": low, "high": high}

    def card(self, figure: Figure) -> dict:
        title, rule = FIGURE_TEXTS[figure.key]
        d = figure.difference
        return {
            "key": figure.key,
            "title": title,
            "rule": rule,
            "reached": self.value(figure.reached, figure.unit),
            "holdout": self.value(figure.holdout, figure.unit),
            "difference": self.value(d.estimate, figure.unit, difference=True),
            "interval": self.interval(figure),
            "few": d.note == "too_few",
            "lift": NOTHING
            if d.lift is None
            else f"{_number(float(d.lift) * 100, 1, signed=True)} %",
            "verdict": VERDICTS.get(d.verdict, ""),
        }

    def money(self, value) -> str:
        return self.value(value, "money")

    def extra_spend(self) -> dict | None:
        found = self.results.extra_spend
        if found is None:
            return None
        estimate, low, high = found
        shown = {"estimate": self.value(estimate, "money", difference=True)}
        if low is None:  # why there is none, as the spend card says it
            spend = next(f for f in self.results.figures if f.key == "spend_per_member")
            shown["missing"] = self.interval(spend)
        else:
            shown["interval"] = _("%(low)s to %(high)s") % {
                "low": self.value(low, "money", difference=True),
                "high": self.value(high, "money", difference=True),
            }
        return shown


def _csv_number(value, places: int = 4) -> str:
    if value is None:
        return ""
    if isinstance(value, Fraction):
        value = float(value)
    return f"{value:.{places}f}"


def _csv_rows(results: CampaignResults):
    window = results.window
    head = [
        results.campaign.name,
        results.currency,
        window.start.isoformat() if window else "",
        window.end.isoformat() if window else "",
        int(window.running) if window else "",
    ]
    decimals = currency_decimals(results.currency)
    for f in results.figures:
        d = f.difference

        def shown(value, f=f):
            if f.unit == "money" and value is not None:
                return str(results.money(value))
            return _csv_number(value)

        yield [
            *head,
            f.key,
            results.currency if f.unit == "money" else f.unit,
            results.reached.members,
            results.holdout.members,
            shown(f.reached),
            shown(f.holdout),
            shown(d.estimate),
            _csv_number(d.low, decimals if f.unit == "money" else 4),
            _csv_number(d.high, decimals if f.unit == "money" else 4),
            _csv_number(d.lift),
            d.note,
        ]


def _admin_context(view, request) -> dict:
    return view.admin_site.each_context(request) if view.admin_site else {}


@method_decorator(staff_member_required, name="dispatch")
class CampaignListView(View):
    admin_site = None

    def get(self, request):
        now = timezone.now()
        campaigns = [
            {"campaign": c, "state": STATES[campaign_state(c, now)]}
            for c in campaigns_with_audience()
        ]
        context = {
            **_admin_context(self, request),
            "title": _("Campaign results"),
            "campaigns": campaigns,
        }
        return TemplateResponse(request, "surveys/campaign_list.html", context)


@method_decorator(staff_member_required, name="dispatch")
class CampaignResultsView(View):
    admin_site = None

    def get(self, request, campaign_id: int):
        campaign = get_object_or_404(Campaign.objects.select_related("program"), pk=campaign_id)
        results = campaign_results(campaign)
        if request.GET.get("export") == "csv":
            return csv_response(
                f"campaign-{campaign.pk}-results.csv", CSV_HEADER, _csv_rows(results)
            )
        shown = _Shown(results)
        share = results.holdout_share
        context = {
            **_admin_context(self, request),
            "title": _("Result: %(name)s") % {"name": campaign.name},
            "campaign": campaign,
            "results": results,
            "state": STATES[campaign_state(campaign, results.now)],
            "running": results.window is not None and results.window.running,
            "cards": [shown.card(f) for f in results.figures],
            "holdout_share": None if share is None else _number(float(share) * 100, 1),
            "cost": shown.money(results.points.cost),
            "extra_spend": shown.extra_spend(),
            "min_members": MIN_GROUP_MEMBERS,
            "point_value": _number(campaign.program.point_value, 4),
        }
        return TemplateResponse(request, "surveys/campaign_results.html", context)
