"""The managing member (owner or head of household) changes one member of the shared
account in the portal: role, monthly limit, or removal. Kept apart from the account page
because it is its own page with its own form; it reuses that page's mixin and helpers."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from loyalty_site.portal.forms import AccountMemberForm
from loyalty_site.portal.views.shared_account import (
    SharedAccountMixin,
    form_error,
    person_name,
    shared_account_url,
)
from programs.errors import LoyaltyError
from programs.models import ROLES, AccountMember
from programs.services.accounts import account_member_leave, account_member_update


class SharedAccountMemberView(SharedAccountMixin, TemplateView):
    """The managing member changes a member's role or monthly limit, or removes them."""

    template_name = "portal/shared_account_member.html"

    def dispatch(self, request, *args, **kwargs):
        self.target = None
        return super().dispatch(request, *args, **kwargs)

    def _target(self):
        member = self.load_member()
        if member is None:
            return self.refuse(_("You do not belong to a shared account."))
        if not member.manages:
            return self.refuse(_("Only the account's owner or head of household manages members."))
        self.target = get_object_or_404(
            AccountMember.objects.select_related("membership__customer"),
            pk=self.kwargs["pk"],
            account=member.account,
            left_at__isnull=True,
        )
        return None

    def get(self, request, *args, **kwargs):
        if refused := self._target():
            return refused
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        target = self.target
        context.update(
            member=self.member,
            account=self.member.account,
            target=target,
            target_name=person_name(target.membership),
            is_self=target.pk == self.member.pk,
        )
        context.setdefault(
            "form",
            AccountMemberForm(
                initial={"role": target.role, "monthly_limit": target.monthly_limit},
                roles=ROLES[self.member.account.kind],
            ),
        )
        return context

    def post(self, request, *args, **kwargs):
        if refused := self._target():
            return refused
        target = self.target
        name = person_name(target.membership)
        if request.POST.get("action") == "remove":
            if target.pk == self.member.pk:
                return redirect("portal:shared_account_leave")
            try:
                account_member_leave(member=target)
            except LoyaltyError as error:
                messages.error(request, str(error.message))
                return redirect("portal:shared_account_member", pk=target.pk)
            messages.success(
                request, _("%(name)s is no longer a member of the account.") % {"name": name}
            )
            return redirect(shared_account_url(self.membership))
        form = AccountMemberForm(request.POST, roles=ROLES[self.member.account.kind])
        if form.is_valid():
            try:
                account_member_update(
                    member=target,
                    role=form.cleaned_data["role"],
                    monthly_limit=form.cleaned_data["monthly_limit"],
                )
            except LoyaltyError as error:
                form_error(form, error)
            else:
                messages.success(request, _("The changes for %(name)s are saved.") % {"name": name})
                return redirect(shared_account_url(self.membership))
        return self.render_to_response(self.get_context_data(form=form))
