"""The what-if pages' forms and what the run page shows: the tier form (a threshold per
tier, prefilled with today's), the campaign form read from the campaign admin's fields,
and a finished run's result as rows for the page's tables."""

from datetime import datetime
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from programs.models import Campaign, Program, TierKind, TierMetric, TierWindow, WhatIfKind
from programs.models.campaigns import CAMPAIGN_RULE_FIELDS
from programs.what_if.runs import MAX_MONTHS

DEFAULT_MONTHS = 12
# The fields of the campaign admin's change form the campaign what-if reads.
CAMPAIGN_FIELDS = ("program", "name", "starts_at", "ends_at", *CAMPAIGN_RULE_FIELDS)


def months_field() -> forms.IntegerField:
    return forms.IntegerField(
        label=gettext_lazy("months replayed"),
        min_value=1,
        max_value=MAX_MONTHS,
        initial=DEFAULT_MONTHS,
        help_text=gettext_lazy("The purchases of this many months up to today are replayed."),
    )


class TierWhatIfForm(forms.Form):
    """A proposed threshold per qualified tier (today's to start with), the window, the
    metric and the months replayed."""

    def __init__(self, *args, program: Program, **kwargs):
        super().__init__(*args, **kwargs)
        self.tiers = list(program.tiers.filter(kind=TierKind.QUALIFIED).order_by("rank"))
        for tier in self.tiers:
            self.fields[f"threshold_{tier.pk}"] = forms.DecimalField(
                label=_("Threshold of %(tier)s") % {"tier": tier.name},
                min_value=0,
                max_digits=14,
                decimal_places=2,
                localize=True,  # "1500,50" as German staff write it ("1500.50" too)
                initial=tier.threshold,
                help_text=_("Today: %(threshold)s") % {"threshold": tier.threshold},
            )
        self.fields["tier_window"] = forms.ChoiceField(
            label=gettext_lazy("tier qualification window"),
            choices=TierWindow.choices,
            initial=program.tier_window,
        )
        self.fields["tier_metric"] = forms.ChoiceField(
            label=gettext_lazy("tier qualification metric"),
            choices=TierMetric.choices,
            initial=program.tier_metric,
        )
        self.fields["months"] = months_field()

    def proposal(self) -> dict:
        data = self.cleaned_data
        return {
            "thresholds": {str(t.pk): str(data[f"threshold_{t.pk}"]) for t in self.tiers},
            "tier_window": data["tier_window"],
            "tier_metric": data["tier_metric"],
        }


def _campaign_admin(admin_site: admin.AdminSite) -> admin.ModelAdmin:
    return admin_site._registry.get(Campaign) or admin.ModelAdmin(Campaign, admin_site)


def campaign_form(admin_site: admin.AdminSite, request, saved: Campaign | None) -> forms.Form:
    """The posted campaign fields the what-if reads, in a form built as the campaign admin
    builds its own (its form class, widgets and field types: split dates, lists), bound to
    a new instance that is never saved. A saved campaign's fields that its change page
    shows read-only (not posted: the program, a fixed audience) are taken from it."""
    campaign_admin = _campaign_admin(admin_site)
    base = admin.ModelAdmin.get_form(campaign_admin, request, None, fields=CAMPAIGN_FIELDS)

    class CampaignWhatIfForm(base):
        what_if_months = months_field()

    data = request.POST.copy()
    if saved is not None:
        shown_only = set(campaign_admin.get_readonly_fields(request, saved)) | {"program"}
        for name in shown_only & set(CAMPAIGN_FIELDS):
            field = Campaign._meta.get_field(name)
            if not data.get(name) and not field.many_to_many:
                value = getattr(saved, field.attname)
                data[name] = "" if value is None else str(value)
    if not data.get("what_if_months"):
        data["what_if_months"] = str(DEFAULT_MONTHS)
    return CampaignWhatIfForm(data, instance=Campaign())


# --- the run page ------------------------------------------------------------------------


def when(text: str | None) -> datetime | None:
    return parse_datetime(text) if text else None


def shown(value) -> str:
    """A figure as the page shows it: numbers grouped, times local, in the reader's format."""
    if isinstance(value, datetime):
        return formats.date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")
    if isinstance(value, int):
        return formats.number_format(value, force_grouping=True)
    return "" if value is None else str(value)


def tier_name(name: str | None) -> str:
    return name if name is not None else _("no tier")


def proposal_rows(run) -> list[tuple[str, str]]:
    """The proposal, as label and value pairs."""
    proposal = run.proposal
    if run.kind == WhatIfKind.TIERS:
        names = dict(run.program.tiers.values_list("pk", "name"))
        rows = [
            (_("Threshold of %(tier)s") % {"tier": names.get(int(pk), pk)}, value)
            for pk, value in proposal.get("thresholds", {}).items()
        ]
        for label, key, choices in (
            (_("tier qualification window"), "tier_window", TierWindow),
            (_("tier qualification metric"), "tier_metric", TierMetric),
        ):
            if proposal.get(key) in choices.values:
                rows.append((label, choices(proposal[key]).label))
        return rows
    rows = [(_("name"), proposal.get("name") or "")]
    for label, key in ((_("starts"), "starts_at"), (_("ends"), "ends_at")):
        rows.append((label, shown(when(proposal.get(key)))))
    return rows


def result_context(run) -> dict:
    """What the run page shows of a finished run's result."""
    result = run.result or {}
    if run.kind == WhatIfKind.TIERS:
        context = {
            "tier_rows": [{**row, "name": tier_name(row["name"])} for row in result["tiers"]],
            "move_rows": [
                {
                    **move,
                    "from": tier_name(move["from"]),
                    "to": tier_name(move["to"]),
                    "direction": _("moving up") if move["direction"] == "up" else _("moving down"),
                }
                for move in result["moves"]
            ],
            "figures": [
                (_("Purchases replayed"), result["purchases"]),
                (_("Members who bought"), result["members"]),
                (_("Members moving up"), result["moved_up"]),
                (_("Members moving down"), result["moved_down"]),
                (_("Points issued with today's rules"), result["points_now"]),
                (_("Points issued with the change"), result["points_proposed"]),
                (_("Points difference"), result["points_difference"]),
                *_money_rows(result),
            ],
        }
    else:
        context = {"figures": _campaign_figures(result)}
    context["figures"] = [(label, shown(value)) for label, value in context["figures"]]
    return context


def _campaign_figures(result: dict) -> list[tuple[str, object]]:
    window = result["campaign"]
    rows = [
        (_("Replayed as running from"), when(window["replayed_start"])),
        (_("Replayed as running until"), when(window["replayed_end"])),
        (_("Purchases replayed"), result["purchases"]),
        (_("Bonus points issued"), result["bonus_points"]),
        (_("Members receiving a bonus"), result["members_receiving"]),
        (_("Purchases with a bonus"), result["purchases_affected"]),
    ]
    if window["clipped"]:
        rows.append(
            (
                _("Length of the campaign"),
                _("The campaign is longer than the period: it covers all of it."),
            )
        )
    if result["audience"] is not None:
        rows.append((_("Members reached by the campaign"), result["audience"]))
        rows.append((_("Members kept back (holdout)"), result["holdout"]))
    if result["budget_points"] is not None:
        rows.append((_("points budget"), result["budget_points"]))
        rows.append((_("Budget left at the end"), result["budget_left"]))
        if result["budget_exhausted_at"]:
            rows.append(
                (
                    _("Budget spent"),
                    _("on day %(day)s of the campaign (%(date)s)")
                    % {
                        "day": result["budget_exhausted_day"],
                        "date": when(result["budget_exhausted_planned"]).date().isoformat(),
                    },
                )
            )
        else:
            rows.append((_("Budget spent"), _("not within the period")))
    rows += [
        (_("Points issued without the campaign"), result["points_without"]),
        (_("Points issued with the campaign"), result["points_with"]),
        (_("Points difference"), result["points_difference"]),
        *_money_rows(result),
    ]
    return rows


def _money_rows(result: dict) -> list[tuple[str, str]]:
    currency = result["currency"]
    point = formats.number_format(Decimal(result["point_value"]))
    return [
        (_("Change of the points liability"), money(result["liability_change"], currency)),
        (_("value of one point"), f"{point} {currency}"),
        (_("Computed in"), _("%(seconds)s s") % {"seconds": result.get("seconds", "-")}),
    ]


def money(amount: str, currency: str) -> str:
    places = settings.CURRENCY_DECIMALS.get(currency, 2)
    shown = formats.number_format(Decimal(amount), decimal_pos=places, force_grouping=True)
    return f"{shown} {currency}"
