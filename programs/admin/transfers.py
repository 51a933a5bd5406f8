"""Points transfers between members in the staff admin: the list, the change page and
the review (approve, reject, reverse), each calling ``programs.services.transfers``.
Apart from the shared accounts (``accounts.py``) because it is its own model and workflow."""

import re

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.shortcuts import redirect
from django.urls import path
from django.utils.translation import gettext_lazy as _

from programs.admin.base import (
    EMPTY,
    ServiceWrittenAdmin,
    add_domain_error,
    field_shown,
    render_form_page,
    titled_filter,
)
from programs.errors import LoyaltyError
from programs.models import Membership, Transfer, TransferStatus
from programs.services.transfer_reviews import transfer_approve, transfer_reject, transfer_reverse

# The review reasons as ``transfers._review_reasons`` stores them (English), for German staff.
REASON_WORDING = [
    (re.compile(r"^more than (?P<points>\d+) points$"), _("more than %(points)s points")),
    (
        re.compile(
            r"^the recipient received from (?P<senders>\d+) other members in (?P<days>\d+) days$"
        ),
        _("the recipient received points from %(senders)s other members in %(days)s days"),
    ),
]


def review_reasons_text(reasons: list[str]) -> str:
    shown = []
    for reason in reasons:
        for pattern, wording in REASON_WORDING:
            found = pattern.match(reason)
            if found:
                reason = wording % found.groupdict()
                break
        shown.append(str(reason))
    return "; ".join(shown)


class NoteForm(forms.Form):
    note = forms.CharField(
        label=_("note"),
        max_length=255,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Kept with the transfer."),
    )


class RequiredNoteForm(NoteForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["note"].required = True


class MembershipTransfersFilter(admin.SimpleListFilter):
    """Transfers given or received by one membership (linked from an account's page)."""

    title = _("membership")
    parameter_name = "membership"

    def lookups(self, request, model_admin):
        value = self.value()
        if value and value.isdigit():
            membership = Membership.objects.select_related("customer").filter(pk=value).first()
            if membership is not None:
                return [(value, str(membership.customer))]
        return []

    def queryset(self, request, queryset):
        value = self.value()
        if not value or not value.isdigit():
            return queryset
        return queryset.filter(Q(sender_id=value) | Q(recipient_id=value))


@admin.register(Transfer)
class TransferAdmin(ServiceWrittenAdmin):
    list_display = (
        "created_at",
        "sender_shown",
        "recipient_shown",
        "points",
        "status",
        "review_reasons_shown",
        "message",
    )
    list_select_related = ("sender__customer", "recipient__customer")
    list_filter = (
        "status",
        ("program", titled_filter(_("program"))),
        MembershipTransfersFilter,
    )
    search_fields = (
        "sender__customer__email",
        "recipient__customer__email",
        "=sender__card_number",
        "=recipient__card_number",
    )
    search_help_text = _("E-mail or card number of the giving or receiving member.")
    show_full_result_count = False
    fields = (
        "program_shown",
        "sender_shown",
        "recipient_shown",
        "points",
        "status",
        "message",
        "review_reasons_shown",
        "created_at",
        "done_at",
        "requested_by_shown",
        "reviewed_by_shown",
        "reviewed_at",
        "review_note",
        "reversed_at",
    )
    readonly_fields = fields

    program_shown = field_shown("program", _("program"))
    sender_shown = field_shown("sender", _("from"), ordering="sender__customer__last_name")
    recipient_shown = field_shown("recipient", _("to"), ordering="recipient__customer__last_name")
    requested_by_shown = field_shown("requested_by", _("requested by"))
    reviewed_by_shown = field_shown("reviewed_by", _("reviewed by"))

    @admin.display(description=_("review reasons"))
    def review_reasons_shown(self, obj):
        return review_reasons_text(obj.review_reasons) or EMPTY

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related(*self.list_select_related, "program", "requested_by", "reviewed_by")
        )

    def object_tools(self, request, obj):
        if not self.has_operate_permission(request):
            return []
        if obj.status == TransferStatus.REVIEW:
            return [
                (_("Approve"), self.admin_url("approve", obj.pk)),
                (_("Reject"), self.admin_url("reject", obj.pk)),
            ]
        if obj.status == TransferStatus.DONE:
            return [(_("Reverse"), self.admin_url("reverse", obj.pk))]
        return []

    def get_urls(self):
        view = self.admin_site.admin_view
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<path:object_id>/approve/", view(self.approve_view), name=f"{info}_approve"),
            path("<path:object_id>/reject/", view(self.reject_view), name=f"{info}_reject"),
            path("<path:object_id>/reverse/", view(self.reverse_view), name=f"{info}_reverse"),
            *super().get_urls(),
        ]

    def _review(self, request, object_id, *, service, form_class, title, submit, done, intro):
        transfer = self.operated_object(request, object_id)
        form = form_class(request.POST if request.method == "POST" else None)
        if form.is_valid():
            note = form.cleaned_data["note"]
            try:
                service(transfer=transfer, user=request.user, note=note)
            except LoyaltyError as error:
                add_domain_error(form, error)
            else:
                self.log_change(request, transfer, f"{done} {note}".strip())
                self.message_user(request, done, messages.SUCCESS)
                return redirect(self.admin_url("change", transfer.pk))
        reasons = review_reasons_text(transfer.review_reasons) or EMPTY
        return render_form_page(
            self,
            request,
            form=form,
            obj=transfer,
            title=title,
            submit_label=submit,
            intro=f"{intro} "
            + _("%(points)s points from %(sender)s to %(recipient)s. Review reasons: %(reasons)s.")
            % {
                "points": transfer.points,
                "sender": transfer.sender.customer,
                "recipient": transfer.recipient.customer,
                "reasons": reasons,
            },
        )

    def approve_view(self, request, object_id):
        return self._review(
            request,
            object_id,
            service=transfer_approve,
            form_class=NoteForm,
            title=_("Approve transfer"),
            submit=_("Approve"),
            done=_("Transfer approved; the points were moved."),
            intro=_("The points move now if the sender still has them."),
        )

    def reject_view(self, request, object_id):
        return self._review(
            request,
            object_id,
            service=transfer_reject,
            form_class=RequiredNoteForm,
            title=_("Reject transfer"),
            submit=_("Reject"),
            done=_("Transfer rejected."),
            intro=_("No points move; the member sees the transfer as rejected."),
        )

    def reverse_view(self, request, object_id):
        return self._review(
            request,
            object_id,
            service=transfer_reverse,
            form_class=RequiredNoteForm,
            title=_("Reverse transfer"),
            submit=_("Reverse"),
            done=_("Transfer reversed; the points are back with the sender."),
            intro=_(
                "The recipient gives the points back to the lots they came from; refused when "
                "the recipient no longer has them available."
            ),
        )
