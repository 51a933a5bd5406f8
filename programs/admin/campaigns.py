"""Bonus campaigns: audience, conditions, effect and limits on one page; a what-if of the
unsaved form before saving; its status, spend and result page once it runs."""

from django import forms
from django.contrib import admin
from django.db.models import Count, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from programs.admin.base import EMPTY, titled_filter
from programs.models import Campaign, CampaignEffect, Partner, Segment, Tier
from programs.models.campaigns import (
    CAMPAIGN_AUDIENCE_FIELDS,
    CAMPAIGN_CONDITION_FIELDS,
    CAMPAIGN_EFFECT_FIELDS,
    CAMPAIGN_LIMIT_FIELDS,
    CAMPAIGN_RULE_FIELDS,
)
from programs.services.campaigns import campaign_save

WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]
# Fixed once the audience is: changing them would change who was reached.
AUDIENCE_FIELDS = ("program", "segment", "holdout_percent")


class CampaignForm(forms.ModelForm):
    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label=_("weekdays"),
        help_text=_("None ticked: every day."),
    )

    class Meta:
        model = Campaign
        fields = [
            "program",
            "name",
            "description",
            "starts_at",
            "ends_at",
            "is_active",
            *CAMPAIGN_RULE_FIELDS,
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        program_id = self.instance.program_id or self.data.get("program")
        if program_id and str(program_id).isdigit():
            for name, model in (("segment", Segment), ("tiers", Tier)):
                if name in self.fields:
                    self.fields[name].queryset = model.objects.filter(program_id=program_id)
            if "partner" in self.fields:
                self.fields["partner"].queryset = Partner.objects.filter(programs=program_id)

    def clean(self):
        data = super().clean()
        effect = data.get("effect")
        if effect == CampaignEffect.FIXED and not data.get("bonus_points"):
            self.add_error("bonus_points", _("A fixed bonus needs its bonus points."))
        if effect == CampaignEffect.MULTIPLIER and (data.get("multiplier") or 0) <= 1:
            self.add_error("multiplier", _("A multiplier above 1 gives a bonus; 2 doubles."))
        start, end = data.get("starts_at"), data.get("ends_at")
        if start and end and end <= start:
            self.add_error("ends_at", _("The campaign must end after it starts."))
        hour_from, hour_until = data.get("hour_from"), data.get("hour_until")
        if hour_from is not None and hour_from > 23:
            self.add_error("hour_from", _("An hour from 0 to 23."))
        if hour_until is not None and not 1 <= hour_until <= 24:
            self.add_error("hour_until", _("An hour from 1 to 24."))
        if hour_from is not None and hour_until is not None and hour_from == hour_until:
            self.add_error("hour_until", _("From and until are the same hour."))
        program = data.get("program") or (self.instance.program if self.instance.pk else None)
        for name in ("segment", "partner"):
            value = data.get(name)
            if program and value is not None and not _belongs(value, program, name):
                self.add_error(name, _("It does not belong to the campaign's program."))
        if program and any(t.program_id != program.pk for t in data.get("tiers") or []):
            self.add_error("tiers", _("It does not belong to the campaign's program."))
        return data


def _belongs(value, program, name) -> bool:
    if name == "partner":
        return value.programs.filter(pk=program.pk).exists()
    return value.program_id == program.pk


def campaign_state(campaign: Campaign, now=None) -> str:
    now = now or timezone.now()
    if not campaign.is_active:
        return str(_("draft"))
    if campaign.budget_points is not None and campaign.points_awarded >= campaign.budget_points:
        return str(_("budget spent"))
    if now < campaign.starts_at:
        return str(_("scheduled"))
    if now >= campaign.ends_at:
        return str(_("ended"))
    return str(_("running"))


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    change_form_template = "admin/programs/campaign/change_form.html"
    list_display = (
        "name",
        "program",
        "starts_at",
        "ends_at",
        "effect_shown",
        "state_shown",
        "spend_shown",
        "audience_shown",
        "results_link",
    )
    list_filter = (("program", titled_filter(_("program"))), "is_active", "effect")
    search_fields = ("name",)
    date_hierarchy = "starts_at"
    filter_horizontal = ("tiers",)
    readonly_fields = ("points_awarded", "audience_frozen_at", "audience_shown", "results_link")
    fieldsets = (
        (None, {"fields": ("program", "name", "description", "starts_at", "ends_at", "is_active")}),
        (
            _("Audience"),
            {
                "fields": CAMPAIGN_AUDIENCE_FIELDS,
                "description": _(
                    "With a segment or a holdout, the audience is fixed when the campaign is "
                    "first saved as active: members who join later are not in it."
                ),
            },
        ),
        (
            _("Conditions"),
            {
                "fields": tuple(
                    ("hour_from", "hour_until") if name == "hour_from" else name
                    for name in CAMPAIGN_CONDITION_FIELDS
                    if name != "hour_until"
                )
            },
        ),
        (_("Effect"), {"fields": CAMPAIGN_EFFECT_FIELDS}),
        (_("Limits"), {"fields": CAMPAIGN_LIMIT_FIELDS}),
        (
            _("Status"),
            {"fields": ("points_awarded", "audience_frozen_at", "audience_shown", "results_link")},
        ),
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("program")
            .annotate(
                reached=Count("members", filter=Q(members__in_holdout=False)),
                held_out=Count("members", filter=Q(members__in_holdout=True)),
            )
        )

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.audience_frozen_at is not None:
            fields += AUDIENCE_FIELDS
        elif obj is not None:
            fields.append("program")
        return fields

    def save_model(self, request, obj, form, change):
        campaign_save(obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        what_if = _url("admin:programs_whatifrun_campaign")
        if object_id and what_if:
            what_if += f"?campaign={object_id}"
        extra_context = {**(extra_context or {}), "what_if_url": what_if}
        return super().changeform_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("effect"))
    def effect_shown(self, obj):
        if obj.effect == CampaignEffect.FIXED:
            return _("+%(points)s points") % {"points": obj.bonus_points}
        return _("x%(factor)s") % {"factor": obj.multiplier}

    @admin.display(description=_("status"))
    def state_shown(self, obj):
        return campaign_state(obj)

    @admin.display(description=_("bonus points given"), ordering="points_awarded")
    def spend_shown(self, obj):
        if obj.budget_points is None:
            return obj.points_awarded
        return f"{obj.points_awarded} / {obj.budget_points}"

    @admin.display(description=_("audience"))
    def audience_shown(self, obj):
        if obj is None or obj.pk is None or not obj.has_audience:
            return _("every member")
        if obj.audience_frozen_at is None:
            return _("fixed when the campaign is switched on")
        reached, held_out = _audience_counts(obj)
        return _("%(reached)s reached, %(held_out)s held out") % {
            "reached": reached,
            "held_out": held_out,
        }

    @admin.display(description=_("result"))
    def results_link(self, obj):
        if obj is None or obj.pk is None:
            return EMPTY
        url = _url("admin:surveys_campaign_results", obj.pk)  # the metrics dashboard's
        return format_html('<a href="{}">{}</a>', url, _("Result page")) if url else EMPTY


def _audience_counts(obj) -> tuple[int, int]:
    if hasattr(obj, "reached"):
        return obj.reached, obj.held_out
    counts = obj.members.aggregate(
        reached=Count("pk", filter=Q(in_holdout=False)),
        held_out=Count("pk", filter=Q(in_holdout=True)),
    )
    return counts["reached"], counts["held_out"]


def _url(name, *args) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""
