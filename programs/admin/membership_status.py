"""Suspending, reactivating and closing a membership from its admin page, and the status
log shown there. The changes go through ``programs.services.memberships``."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from programs.admin.base import EMPTY, LatestRowsFormSet, ReadOnlyInline
from programs.admin.wording import reason_text
from programs.models import Membership, MembershipStatus, MembershipStatusChange
from programs.services.memberships import (
    membership_close,
    membership_reactivate,
    membership_suspend,
)


class MembershipStatusForm(forms.Form):
    """Suspend, reactivate or close a membership; the choices offered depend on its status."""

    CHANGES = {
        "suspend": (_("Suspend: no earning or redeeming until reactivated"), membership_suspend),
        "reactivate": (_("Reactivate"), membership_reactivate),
        "close": (_("Close for good"), membership_close),
    }
    OFFERED = {
        MembershipStatus.ACTIVE: ("suspend", "close"),
        MembershipStatus.SUSPENDED: ("reactivate", "close"),
        MembershipStatus.CLOSED: (),
    }

    change = forms.ChoiceField(label=_("change"), widget=forms.RadioSelect)
    reason = forms.CharField(
        label=_("reason"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Kept in the membership's status log."),
    )

    def __init__(self, *args, membership: Membership, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["change"].choices = [
            (key, self.CHANGES[key][0]) for key in self.OFFERED[membership.status]
        ]


class StatusChangeInline(ReadOnlyInline):
    model = MembershipStatusChange
    formset = LatestRowsFormSet
    verbose_name_plural = _("status changes (newest 50)")
    fields = ("created_at", "from_status", "to_status", "reason_shown", "by")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("changed_by")

    @admin.display(description=_("reason"))
    def reason_shown(self, obj):
        return reason_text(obj.reason)

    @admin.display(description=_("changed by"))
    def by(self, obj):
        return obj.changed_by.get_username() if obj.changed_by else EMPTY
