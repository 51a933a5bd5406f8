"""Segments: named groups of a program's members, defined by conditions (inline). The list
shows each segment's members now; the change page counts them while staff edit the
conditions (``count/``, posted by programs/static/programs/segment_count.js) and exports
them as CSV or Excel: every member, or only those who agreed to marketing e-mails."""

from django import forms
from django.contrib import admin
from django.contrib import messages as django_messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
)
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from programs.admin.base import EMPTY, add_domain_error, render_form_page
from programs.admin.export_files import ExportFile, export_answer
from programs.errors import LoyaltyError
from programs.models import (
    ExportJob,
    ExportKind,
    Partner,
    Segment,
    SegmentCondition,
    SegmentField,
    Tier,
)
from programs.segment_exports import (
    export_header,
    segment_export_filename,
    segment_export_members,
    segment_export_rows,
)
from programs.segments import (
    condition_errors,
    conditions_members,
    segment_member_counts,
    segment_members,
)
from programs.services.segment_messages import segment_message_send

FILE_FORMATS = ("csv", "xlsx")
AUDIENCES = {"alle": False, "marketing": True}  # URL word: marketing only

# The model's label promises a 0-100 figure, but churn risk is stored as a flag.
FIELD_LABELS = {SegmentField.CHURN_RISK: gettext_lazy("churn risk (yes or no)")}


class SegmentConditionForm(forms.ModelForm):
    class Meta:
        model = SegmentCondition
        fields = ("group", "field", "operator", "value", "tier", "partner")
        help_texts = {
            "value": gettext_lazy(
                "A number (decimal comma allowed); for marketing consent and churn risk: "
                "yes or no. Leave empty for tier and partner."
            ),
        }

    def __init__(self, *args, segment: Segment | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.segment = segment  # the parent being edited, perhaps not saved yet
        self.fields["field"].choices = [  # the empty choice first stays: a new row is empty
            (value, FIELD_LABELS.get(value, label)) for value, label in self.fields["field"].choices
        ]

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("field") or not cleaned.get("operator"):
            return cleaned  # "required" says it already
        # What the field does not compare is not kept (a tier left from an earlier choice
        # would keep that tier from being deleted).
        field = cleaned["field"]
        if field != SegmentField.TIER:
            cleaned["tier"] = None
        if field != SegmentField.PARTNER:
            cleaned["partner"] = None
        if field in (SegmentField.TIER, SegmentField.PARTNER):
            cleaned["value"] = ""
        segment = self.segment
        candidate = SegmentCondition(
            field=cleaned["field"],
            operator=cleaned["operator"],
            value=cleaned.get("value") or "",
            tier=cleaned.get("tier"),
            partner=cleaned.get("partner"),
        )
        program = segment.program if segment is not None and segment.program_id else None
        errors = condition_errors(candidate, program=program)
        if errors:
            raise ValidationError(errors)
        return cleaned


class SegmentConditionFormSet(forms.BaseInlineFormSet):
    """Gives each condition form its segment, so tier and partner are checked against the
    program even before the segment is saved."""

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "segment": self.instance}


class SegmentConditionInline(admin.TabularInline):
    model = SegmentCondition
    form = SegmentConditionForm
    formset = SegmentConditionFormSet
    extra = 1
    fields = ("group", "field", "operator", "value", "tier", "partner")

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        tiers = Tier.objects.select_related("program")
        partners = Partner.objects.all()
        if obj is not None:  # the program is fixed once the segment is saved
            tiers = tiers.filter(program=obj.program_id)
            partners = partners.filter(programs=obj.program_id)
        formset.form.base_fields["tier"].queryset = tiers
        formset.form.base_fields["partner"].queryset = partners
        return formset


def _form_errors(form, number: int) -> list[str]:
    messages = []
    for name, errors in form.errors.items():
        field = form.fields.get(name)
        where = _("Condition %(number)d") % {"number": number}
        if field is not None:
            where = f"{where}, {field.label}"
        messages += [f"{where}: {error}" for error in errors]
    return messages


class SegmentMessageForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("title"), max_length=120)
    body = forms.CharField(label=gettext_lazy("text"), widget=forms.Textarea, max_length=2000)
    title_en = forms.CharField(
        label=gettext_lazy("title in English"), max_length=120, required=False
    )
    body_en = forms.CharField(
        label=gettext_lazy("text in English"),
        widget=forms.Textarea,
        max_length=2000,
        required=False,
        help_text=gettext_lazy("For members who chose English; empty: they get the German."),
    )


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    change_form_template = "admin/programs/segment/change_form.html"
    list_display = ("name", "program", "member_count", "updated_at")
    list_select_related = ("program",)
    list_filter = ("program",)
    search_fields = ("name",)
    fields = ("program", "name", "description")
    inlines = [SegmentConditionInline]

    class Media:
        js = ("programs/segment_count.js",)

    def get_readonly_fields(self, request, obj=None):
        # Tiers and partners of the conditions belong to the program.
        return ("program",) if obj is not None else ()

    def get_changelist_instance(self, request):
        """Count the members of the page's segments at once, not one query per row."""
        changelist = super().get_changelist_instance(request)
        counts = segment_member_counts(changelist.result_list)
        for segment in changelist.result_list:  # the page's rows, read once
            segment.member_total = counts[segment.pk]
        return changelist

    @admin.display(description=gettext_lazy("members now"))
    def member_count(self, obj):
        return getattr(obj, "member_total", EMPTY)

    def get_urls(self):
        view = self.admin_site.admin_view
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("add/count/", view(self.count_view), name=f"{info}_count_new"),
            path("<path:object_id>/count/", view(self.count_view), name=f"{info}_count"),
            path("<path:object_id>/message/", view(self.message_view), name=f"{info}_message"),
            path(
                "<path:object_id>/export/<str:file_format>/<str:audience>/",
                view(self.export_view),
                name=f"{info}_export",
            ),
            *super().get_urls(),
        ]

    def message_view(self, request, object_id):
        segment = self.get_object(request, unquote(object_id))
        if segment is None:
            raise Http404
        if not self.has_change_permission(request, segment):
            raise PermissionDenied
        form = SegmentMessageForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                written = segment_message_send(segment=segment, **form.cleaned_data)
            except LoyaltyError as error:
                add_domain_error(form, error)
            else:
                self.message_user(
                    request,
                    _("The message went to %(count)s members.") % {"count": written},
                    django_messages.SUCCESS,
                )
                return HttpResponseRedirect(self._url("change", segment.pk))
        members = segment_members(segment)
        return render_form_page(
            self,
            request,
            form=form,
            obj=segment,
            title=_("Write to the segment %(segment)s") % {"segment": segment.name},
            submit_label=_("Send"),
            intro=_(
                "It goes to %(count)s members now: in their portal, and by e-mail to those who "
                "agreed to news and offers (%(consented)s)."
            )
            % {
                "count": members.count(),
                "consented": members.filter(
                    customer__communication_preferences__email_marketing=True
                ).count(),
            },
        )

    def _url(self, name: str, *args) -> str:
        return reverse(
            f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_{name}",
            args=args,
        )

    def export_tools(self, obj) -> list[tuple[str, str]]:
        return [
            (_("CSV: all members"), self._url("export", obj.pk, "csv", "alle")),
            (_("Excel: all members"), self._url("export", obj.pk, "xlsx", "alle")),
            (_("CSV for marketing"), self._url("export", obj.pk, "csv", "marketing")),
            (_("Excel for marketing"), self._url("export", obj.pk, "xlsx", "marketing")),
        ]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["count_url"] = self._url("count", obj.pk) if obj else self._url("count_new")
        context["count_now"] = request.method == "POST"  # a page shown again with errors
        context["member_count"] = None
        context["object_tools"] = []
        if obj is not None:
            context["object_tools"] = [
                (_("Write to these members"), self._url("message", obj.pk)),
                *self.export_tools(obj),
            ]
            if request.method != "POST":
                context["member_count"] = segment_members(obj).count()
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _edited_object(self, request, object_id):
        if object_id is None:
            if not self.has_add_permission(request):
                raise PermissionDenied
            return None
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def count_view(self, request, object_id=None):
        """The members of the segment as the change form stands, not saved: ``{"count"}``,
        or ``{"errors"}`` (status 400) when a condition is not valid yet."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self._edited_object(request, object_id)
        form_class = self.get_form(request, obj, change=obj is not None)
        form = form_class(request.POST, request.FILES, instance=obj or Segment())
        form.is_valid()  # a name already taken does not keep the members from being counted
        segment = form.instance
        if not segment.program_id:
            return JsonResponse(
                {"errors": [_("Choose the program to count its members.")]}, status=400
            )
        errors, conditions = [], []
        for formset_class, inline in self.get_formsets_with_inlines(request, obj):
            formset = formset_class(
                request.POST,
                request.FILES,
                instance=segment,
                prefix=formset_class.get_default_prefix(),
                queryset=inline.get_queryset(request),
            )
            if not formset.is_valid():
                errors += [str(error) for error in formset.non_form_errors()]
                for number, form in enumerate(formset.forms, start=1):
                    errors += _form_errors(form, number)
                continue
            conditions += [
                form.instance
                for form in formset.forms
                if form not in formset.deleted_forms and (form.instance.pk or form.has_changed())
            ]
        if errors:
            return JsonResponse({"errors": errors}, status=400)
        members = conditions_members(segment.program, conditions, now=timezone.now())
        return JsonResponse({"count": members.count()})

    def export_view(self, request, object_id, file_format, audience):
        if file_format not in FILE_FORMATS or audience not in AUDIENCES:
            raise Http404
        segment = self.get_object(request, unquote(object_id))
        if segment is None:
            raise Http404
        if not self.has_view_permission(request, segment):
            raise PermissionDenied
        marketing_only = AUDIENCES[audience]
        return export_answer(
            request,
            file_format,
            segment_file(segment, marketing_only=marketing_only, file_format=file_format),
            kind=ExportKind.SEGMENT,
            params={"segment": segment.pk, "marketing_only": marketing_only},
        )


def segment_file(segment: Segment, *, marketing_only: bool, file_format: str) -> ExportFile:
    """A segment's file (all members, or those who agreed to marketing e-mails)."""
    members = segment_export_members(segment, marketing_only=marketing_only)
    return ExportFile(
        counted=members,
        header=export_header(),
        rows=segment_export_rows(segment, marketing_only=marketing_only, members=members),
        filename=segment_export_filename(
            segment, marketing_only=marketing_only, extension=file_format
        ),
        sheet_title=segment.name,
    )


def segment_job_file(job: ExportJob) -> ExportFile:
    """The segment file of ``job``, if its staff member may still see the segment."""
    segment = Segment.objects.get(pk=job.params["segment"])
    model_admin = admin.site.get_model_admin(Segment)
    request = HttpRequest()
    request.user = job.user
    if not model_admin.has_view_permission(request, segment):
        raise PermissionDenied(_("You may no longer export this segment."))
    return segment_file(
        segment, marketing_only=job.params["marketing_only"], file_format=job.file_format
    )
