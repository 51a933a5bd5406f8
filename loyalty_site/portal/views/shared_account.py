"""The shared account page in the portal: the account, its pooled balance and tier, its
members and who earned and spent what; there the managing member invites people, others
leave, and an invited customer accepts or declines. Every write is a service of
``programs.services``; a domain error becomes a message or a form error, never an error
page. The helpers at the top are shared with ``shared_account_members`` and ``giving``."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from loyalty_site.portal.forms import AccountInviteForm
from loyalty_site.portal.selectors import membership_dashboard
from loyalty_site.portal.services import email_confirmed
from loyalty_site.portal.shared_account_selectors import (
    account_activity,
    account_holder,
    account_invitations_open,
    account_members,
)
from loyalty_site.portal.views.base import PortalMixin
from loyalty_site.portal.wording import qualifying_text, tier_gap_text
from programs.errors import LoyaltyError
from programs.models import (
    ROLES,
    AccountInvitation,
    AccountMember,
    InvitationStatus,
    Membership,
)
from programs.services.account_invitations import (
    account_invite,
    invitation_accept,
    invitation_decline,
    invitation_revoke,
    invitations_open_for,
)
from programs.services.account_spending import member_of, redeemed_this_month
from programs.services.accounts import account_member_leave


def form_error(form, error: LoyaltyError) -> None:
    """A domain error on the form: on the field it names, else above the form."""
    field = error.details.get("field")
    form.add_error(field if field in form.fields else None, str(error.message))


def _int(value) -> int:
    return int(value) if value and str(value).isdigit() else 0


def person_name(membership: Membership) -> str:
    customer = membership.customer
    return f"{customer.first_name} {customer.last_name}".strip()


def shared_account_url(membership: Membership | None = None) -> str:
    url = reverse("portal:shared_account")
    return f"{url}?program={membership.program.slug}" if membership is not None else url


class SharedAccountMixin(PortalMixin):
    """``self.member``: the signed-in customer's place in a shared account, through the
    membership being looked at (None when it belongs to none)."""

    needs_membership = False

    def dispatch(self, request, *args, **kwargs):
        self.member = None
        return super().dispatch(request, *args, **kwargs)

    def load_member(self) -> AccountMember | None:
        if self.membership is not None:
            self.member = member_of(self.membership)
            if self.member is not None:
                self.member.membership = self.membership
        return self.member

    def refuse(self, text: str):
        messages.error(self.request, text)
        return redirect(shared_account_url(self.membership))


class SharedAccountView(SharedAccountMixin, TemplateView):
    """The account page; POST: the managing member invites someone, or withdraws an open
    invitation (``action`` revoke)."""

    template_name = "portal/shared_account.html"

    def get(self, request, *args, **kwargs):
        self.load_member()
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["invitations"] = invitations_open_for(self.customer)
        context["elsewhere"] = [
            m for m in self.memberships if m != self.membership and member_of(m) is not None
        ]
        member = self.member
        if member is None:
            return context
        account = member.account
        holder = account_holder(account=account)
        dashboard = membership_dashboard(membership=holder)
        progress = dashboard.balance.progress
        currency = holder.program.currency
        context.update(
            member=member,
            account=account,
            holder=holder,
            dashboard=dashboard,
            progress=progress,
            gap_text=tier_gap_text(progress, currency),
            qualifying_text=qualifying_text(progress, currency),
            members=account_members(account=account),
            activity=account_activity(account=account),
            currency=currency,
            pools=holder.program.accounts_pool,
        )
        if member.monthly_limit is not None:
            context["used_this_month"] = redeemed_this_month(
                holder, self.membership, timezone.now()
            )
        if member.manages:
            context["sent"] = account_invitations_open(account=account)
            context.setdefault(
                "invite_form",
                # the second role (buyer, household member): whom one invites most
                AccountInviteForm(
                    initial={"role": ROLES[account.kind][1]}, roles=ROLES[account.kind]
                ),
            )
        return context

    def post(self, request, *args, **kwargs):
        member = self.load_member()
        if member is None:
            return self.refuse(_("You do not belong to a shared account."))
        if not member.manages:
            return self.refuse(_("Only the account's owner or head of household manages members."))
        if request.POST.get("action") == "revoke":
            invitation = get_object_or_404(
                AccountInvitation,
                pk=_int(request.POST.get("invitation")),
                account=member.account,
                status=InvitationStatus.OPEN,
            )
            invitation_revoke(invitation=invitation)
            messages.success(
                request,
                _("The invitation to %(email)s is withdrawn.") % {"email": invitation.email},
            )
            return redirect(shared_account_url(self.membership))
        form = AccountInviteForm(request.POST, roles=ROLES[member.account.kind])
        if form.is_valid():
            try:
                invitation, _token = account_invite(
                    account=member.account,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    invited_by=self.membership,
                )
            except LoyaltyError as error:
                form_error(form, error)
            else:
                messages.success(
                    request,
                    _("We sent the invitation to %(email)s.") % {"email": invitation.email},
                )
                return redirect(shared_account_url(self.membership))
        return self.render_to_response(self.get_context_data(invite_form=form))


class SharedAccountLeaveView(SharedAccountMixin, TemplateView):
    """GET: what leaving means; POST: leave."""

    template_name = "portal/shared_account_leave.html"

    def get(self, request, *args, **kwargs):
        if self.load_member() is None:
            return self.refuse(_("You do not belong to a shared account."))
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            member=self.member,
            account=self.member.account,
            pools=self.member.account.program.accounts_pool,
        )
        return context

    def post(self, request, *args, **kwargs):
        member = self.load_member()
        if member is None:
            return self.refuse(_("You do not belong to a shared account."))
        try:
            account_member_leave(member=member)
        except LoyaltyError as error:
            messages.error(request, str(error.message))
            return redirect(shared_account_url(self.membership))
        messages.success(
            request,
            _("You have left %(account)s. Your purchases now earn on your own points again.")
            % {"account": member.account.name},
        )
        return redirect(shared_account_url(self.membership))


class SharedAccountInvitationView(SharedAccountMixin, TemplateView):
    """An invitation to the signed-in customer's address: GET shows the account and the
    rule; POST accepts (``action`` accept) or declines it."""

    template_name = "portal/shared_account_invitation.html"

    def _invitation(self) -> AccountInvitation:
        return get_object_or_404(
            AccountInvitation.objects.select_related("account__program", "invited_by__customer"),
            pk=self.kwargs["pk"],
            status=InvitationStatus.OPEN,
            expires_at__gt=timezone.now(),
            email__iexact=self.customer.email or "-",
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        invitation = self._invitation()
        program = invitation.account.program
        own = next((m for m in self.memberships if m.program_id == program.pk), None)
        current = member_of(own) if own is not None else None
        context.update(
            invitation=invitation,
            account=invitation.account,
            inviter=person_name(invitation.invited_by) if invitation.invited_by else "",
            pools=program.accounts_pool,
            own=own,
            current=current,
        )
        return context

    def post(self, request, *args, **kwargs):
        invitation = self._invitation()
        account = invitation.account
        try:
            if request.POST.get("action") == "accept":
                if not email_confirmed(request.user):
                    messages.error(
                        request,
                        _("Please confirm your e-mail address before you join a shared account."),
                    )
                    return redirect("portal:shared_account_invitation", pk=invitation.pk)
                joined = invitation_accept(invitation=invitation, customer=self.customer)
                messages.success(request, _("Welcome to %(account)s!") % {"account": account.name})
                return redirect(shared_account_url(joined.membership))
            invitation_decline(invitation=invitation, customer=self.customer)
        except LoyaltyError as error:
            messages.error(request, str(error.message))
            return redirect("portal:shared_account")
        messages.info(
            request, _("You declined the invitation to %(account)s.") % {"account": account.name}
        )
        return redirect("portal:shared_account")
