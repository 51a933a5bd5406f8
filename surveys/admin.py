"""Staff admin for surveys: surveys and their questions, invitations, responses (filters,
CSV export), "send to a segment", and the entry to the metrics dashboard."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from programs.admin.base import ReadOnlyInline, ServiceWrittenAdmin, render_form_page
from programs.models import Partner, Segment, Tier
from surveys.campaign_views import CampaignListView, CampaignResultsView
from surveys.dashboard import DashboardView, SnapshotRebuildView
from surveys.errors import SurveyInactive
from surveys.exports import RESPONSE_HEADER, csv_response, response_rows
from surveys.models import (
    Answer,
    CohortSnapshot,
    Invitation,
    MetricsDashboard,
    MetricSnapshot,
    Question,
    Response,
    Survey,
)
from surveys.selectors import ENGAGEMENT_LABELS
from surveys.services.invitation_emails import invitations_resend
from surveys.services.invitations import invitations_for_segment
from surveys.services.snapshots import ENGAGEMENT_BANDS, snapshots_build
from surveys.services.surveys import survey_questions_ensure


class QuestionInline(admin.TabularInline):
    model = Question
    extra = 0
    fields = ["position", "code", "text_de", "text_en", "scale_min", "scale_max", "required"]
    readonly_fields = ["code", "scale_min", "scale_max"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SegmentForm(forms.Form):
    segment = forms.ModelChoiceField(
        Segment.objects.none(),
        required=False,
        label=_("saved segment"),
        help_text=_("Invites exactly the segment's members; or leave empty and filter below."),
    )
    tier = forms.ModelChoiceField(Tier.objects.none(), required=False, label=_("tier"))
    partner = forms.ModelChoiceField(Partner.objects.none(), required=False, label=_("partner"))

    engagement = forms.TypedChoiceField(
        choices=[("", _("any engagement score"))]
        + [(str(i), label) for i, label in enumerate(ENGAGEMENT_LABELS)],
        coerce=int,
        empty_value=None,
        required=False,
        label=_("engagement score"),
    )

    def __init__(self, *args, survey: Survey, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = Segment.objects.filter(program=survey.program_id)
        self.fields["segment"].empty_label = _("no saved segment")
        self.fields["tier"].queryset = Tier.objects.filter(program=survey.program_id)
        self.fields["partner"].queryset = Partner.objects.filter(programs=survey.program_id)
        self.fields["tier"].empty_label = _("every tier")
        self.fields["partner"].empty_label = _("every partner")

    def clean(self):
        cleaned = super().clean()
        filters = ("tier", "partner", "engagement")
        if cleaned.get("segment") and any(cleaned.get(name) is not None for name in filters):
            raise forms.ValidationError(
                _("Choose a saved segment or the filters, not both: a segment is sent as saved.")
            )
        return cleaned


def _band(index: int | None) -> tuple[int, int] | None:
    return None if index is None else ENGAGEMENT_BANDS[index]


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "program", "recontact_days", "after_purchase", "is_active"]
    list_filter = ["kind", "program", "is_active", "after_purchase"]
    search_fields = ["name"]
    inlines = [QuestionInline]
    actions = ["send_to_segment"]

    def get_readonly_fields(self, request, obj=None):
        return ["program", "kind"] if obj else []

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        survey_questions_ensure(obj)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/segment/",
                self.admin_site.admin_view(self.segment_view),
                name="surveys_survey_segment",
            ),
            *super().get_urls(),
        ]

    @admin.action(description=_("Send to a segment of members"))
    def send_to_segment(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, _("Choose exactly one survey."), messages.ERROR)
            return None
        return HttpResponseRedirect(
            reverse("admin:surveys_survey_segment", args=[queryset.get().pk])
        )

    def segment_view(self, request, object_id):
        if not self.has_change_permission(request):
            raise PermissionDenied
        survey = self.get_object(request, object_id)
        if survey is None:
            return HttpResponseRedirect(reverse("admin:surveys_survey_changelist"))
        form = SegmentForm(request.POST or None, survey=survey)
        if request.method == "POST" and form.is_valid():
            try:
                result = invitations_for_segment(
                    survey=survey,
                    segment=form.cleaned_data["segment"],
                    tier=form.cleaned_data["tier"],
                    partner=form.cleaned_data["partner"],
                    engagement=_band(form.cleaned_data.get("engagement")),
                    user=request.user,
                )
            except SurveyInactive as exc:
                form.add_error(None, str(exc.message))
            else:
                self.message_user(
                    request,
                    _("%(invited)d members invited; %(throttled)d skipped (invited recently).")
                    % {"invited": result.invited, "throttled": result.throttled},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:surveys_invitation_changelist"))
        return render_form_page(
            self,
            request,
            form=form,
            obj=survey,
            title=_("Send “%(survey)s” to a segment") % {"survey": survey.name},
            submit_label=_("Send invitations"),
            intro=_(
                "Active members of the program with an e-mail address are invited, except "
                "those invited to any survey in the cool-down or to this one in its "
                "recontact interval. The e-mails go out within minutes."
            ),
        )


@admin.register(Invitation)
class InvitationAdmin(ServiceWrittenAdmin):
    list_display = [
        "survey",
        "customer",
        "channel",
        "language",
        "created_at",
        "sent_at",
        "reminded_at",
        "email_state",
        "answered_at",
        "dismissed_at",
    ]
    list_filter = [
        "survey",
        "channel",
        "language",
        "email_state",
        ("answered_at", admin.EmptyFieldListFilter),
        ("dismissed_at", admin.EmptyFieldListFilter),
    ]
    list_select_related = ["survey", "customer"]
    date_hierarchy = "created_at"
    search_fields = ["customer__email"]
    readonly_fields = [f.name for f in Invitation._meta.fields]
    actions = ["resend_email"]

    @admin.action(description=_("Send the invitation e-mail again"), permissions=["operate"])
    def resend_email(self, request, queryset):
        count = invitations_resend(queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            ngettext(
                "%(count)d invitation queued (answered, dismissed and expired ones are left).",
                "%(count)d invitations queued (answered, dismissed and expired ones are left).",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )


class AnswerInline(ReadOnlyInline):
    model = Answer
    fields = ["question", "value", "text", "skipped"]
    readonly_fields = fields


@admin.register(Response)
class ResponseAdmin(ServiceWrittenAdmin):
    list_display = [
        "submitted_at",
        "survey",
        "kind",
        "status",
        "score",
        "program",
        "tier",
        "partner",
        "short_comment",
    ]
    list_filter = [
        "kind",
        "status",
        "survey",
        "program",
        "tier",
        "partner",
        "invitation__channel",
        "score",
    ]
    list_select_related = ["survey", "program", "tier", "partner"]
    date_hierarchy = "submitted_at"
    search_fields = ["comment", "membership__customer__email"]
    readonly_fields = [f.name for f in Response._meta.fields]
    inlines = [AnswerInline]
    actions = ["export_csv"]

    @admin.display(description=_("comment"))
    def short_comment(self, obj):
        return obj.comment[:80]

    @admin.action(description=_("Export the selected responses as CSV"))
    def export_csv(self, request, queryset):
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        return csv_response(f"responses-{stamp}.csv", RESPONSE_HEADER, response_rows(queryset))


@admin.register(MetricSnapshot)
class MetricSnapshotAdmin(ServiceWrittenAdmin):
    list_display = [
        "period",
        "program",
        "tier",
        "partner",
        "nps_promoters",
        "nps_passives",
        "nps_detractors",
        "points_issued",
        "points_redeemed",
        "members",
        "computed_at",
    ]
    list_filter = ["program", "partner", "period"]
    list_select_related = ["program", "tier", "partner"]
    actions = ["rebuild"]

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Rebuild all snapshots now"))
    def rebuild(self, request, queryset):
        rows = snapshots_build(months=None)
        self.message_user(
            request,
            ngettext("%(n)d snapshot row rebuilt.", "%(n)d snapshot rows rebuilt.", rows)
            % {"n": rows},
        )


@admin.register(CohortSnapshot)
class CohortSnapshotAdmin(ServiceWrittenAdmin):
    list_display = [
        "cohort",
        "program",
        "tier",
        "customers",
        "within_30",
        "within_90",
        "within_180",
        "within_365",
    ]
    list_filter = ["program"]
    list_select_related = ["program", "tier"]


@admin.register(MetricsDashboard)
class MetricsDashboardAdmin(admin.ModelAdmin):
    """The admin index entry "Metrics dashboard"; opening it shows the dashboard. Its pages
    (the dashboard with the points liability, campaign results, their exports) are for
    staff with the view permission (roles "Finanzen", "Programm-Management")."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.has_perm("surveys.view_metricsdashboard")

    def page(self, view):
        """``view`` as an admin page for those who may view the dashboard."""

        def viewers_only(request, *args, **kwargs):
            if not self.has_view_permission(request):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return self.admin_site.admin_view(viewers_only)

    def get_urls(self):
        return [
            path(
                "",
                self.page(DashboardView.as_view(admin_site=self.admin_site)),
                name="surveys_metricsdashboard_changelist",
            ),
            path(
                "rebuild/",
                self.page(SnapshotRebuildView.as_view()),
                name="surveys_dashboard_rebuild",
            ),
            path(
                "campaigns/",
                self.page(CampaignListView.as_view(admin_site=self.admin_site)),
                name="surveys_campaign_list",
            ),
            path(
                "campaigns/<int:campaign_id>/results/",
                self.page(CampaignResultsView.as_view(admin_site=self.admin_site)),
                name="surveys_campaign_results",
            ),
        ]
