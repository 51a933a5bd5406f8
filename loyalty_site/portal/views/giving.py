"""Giving points in the portal: to the customer's own shared account, to a fellow member
of it, or (where the program allows transfers) to another member by card number. Every
gift is a transfer of ``programs.services.transfers``; one that needs review says so."""

import uuid

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from loyalty_site.portal.forms import GivePointsForm
from loyalty_site.portal.services import email_confirmed
from loyalty_site.portal.shared_account_selectors import account_members
from loyalty_site.portal.views.base import PortalMixin
from loyalty_site.portal.views.shared_account import form_error, person_name
from loyalty_site.portal.wording import points_text
from programs.errors import LoyaltyError
from programs.models import Membership, MembershipStatus, TransferStatus
from programs.services.account_spending import member_of
from programs.services.ledger import Actor
from programs.services.transfers import transfer_create, transfers_of

ACCOUNT = "account"
FELLOW = "m:"
RECENT_TRANSFERS = 10


class GivePointsView(PortalMixin, TemplateView):
    """Give points to the own shared account, a fellow member, or (where the program
    allows it) another member by card number."""

    template_name = "portal/give_points.html"

    def _choices(self):
        self.member = member_of(self.membership)
        self.fellows: dict[str, Membership] = {}
        recipients = []
        if self.member is not None:
            account = self.member.account
            recipients.append((ACCOUNT, _("The shared account %(name)s") % {"name": account.name}))
            for fellow in account_members(account=account):
                if fellow.membership_id != self.membership.pk:
                    key = f"{FELLOW}{fellow.membership_id}"
                    self.fellows[key] = fellow.membership
                    recipients.append((key, person_name(fellow.membership)))
        return recipients

    def _form(self, data=None):
        recipients = self._choices()
        by_card = self.membership.program.transfers_enabled
        if not recipients and not by_card:
            return None
        return GivePointsForm(
            data, initial={"key": uuid.uuid4()}, recipients=recipients, by_card=by_card
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if "form" not in kwargs:
            context["form"] = self._form()
        context["transfers"] = [
            {
                "transfer": t,
                "given": t.sender_id == self.membership.pk,
                "other": person_name(
                    t.recipient if t.sender_id == self.membership.pk else t.sender
                ),
            }
            for t in transfers_of(self.membership)[:RECENT_TRANSFERS]
        ]
        return context

    def _recipient(self, form) -> Membership | None:
        choice = form.cleaned_data["recipient"]
        if choice == ACCOUNT:
            return Membership.objects.get(pk=self.member.account.holder_id)
        if choice in self.fellows:
            return self.fellows[choice]
        recipient = (
            Membership.objects.select_related("customer")
            .filter(
                program=self.membership.program,
                card_number=form.cleaned_data["card_number"],
                status=MembershipStatus.ACTIVE,
                account_held__isnull=True,
            )
            .first()
        )
        if recipient is None:
            form.add_error(
                "card_number", _("No member of this program has this card number. Please check it.")
            )
        return recipient

    def post(self, request, *args, **kwargs):
        form = self._form(request.POST)
        if form is None:
            messages.error(request, _("This program does not allow giving points."))
            return redirect("portal:give_points")
        if not email_confirmed(request.user):
            messages.error(request, _("Please confirm your e-mail address before giving points."))
            return redirect("portal:give_points")
        if form.is_valid() and (recipient := self._recipient(form)) is not None:
            points = form.cleaned_data["points"]
            try:
                transfer, created = transfer_create(
                    sender=self.membership,
                    recipient=recipient,
                    points=points,
                    key=f"portal:{self.membership.pk}:{form.cleaned_data['key']}",
                    actor=Actor.for_customer(request.user),
                    message=form.cleaned_data["message"],
                )
            except LoyaltyError as error:
                form_error(form, error)
            else:
                name = person_name(recipient)
                if not created:
                    messages.info(request, _("These points were already given."))
                elif transfer.status == TransferStatus.REVIEW:
                    messages.info(
                        request,
                        _(
                            "Your gift of %(points)s points to %(name)s waits for a short "
                            "check by our team; the points move once it is approved."
                        )
                        % {"points": points_text(points), "name": name},
                    )
                else:
                    messages.success(
                        request,
                        _("You gave %(points)s points to %(name)s.")
                        % {"points": points_text(points), "name": name},
                    )
                return redirect("portal:give_points")
        return self.render_to_response(self.get_context_data(form=form))
