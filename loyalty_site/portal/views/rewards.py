import secrets

from django.contrib import messages
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from loyalty_site.portal.emails import (
    voucher_cancelled_email_after_commit,
    voucher_emails_wanted,
)
from loyalty_site.portal.qr import qr_svg
from loyalty_site.portal.selectors import customer_redemptions, reward_shelves
from loyalty_site.portal.services import email_confirmed
from loyalty_site.portal.views.base import PortalMixin
from loyalty_site.portal.wording import error_text, points_text
from programs.errors import LoyaltyError
from programs.models import Membership, Reward
from programs.services.account_spending import member_of
from programs.services.ledger import Actor
from programs.services.rewards import redemption_cancel, reward_redeem
from programs.vouchers import VoucherStatus, voucher_status

SESSION_REDEEM_TOKENS = "portal_redeem_tokens"


FROM_ACCOUNT = "account"  # ?from=account: redeem from the shared account's balance


def account_source(membership, wanted: bool):
    """The member's shared account as a source of points: ``(member, holder)`` when
    ``wanted``, else ``(member, None)`` (``member`` None when the membership belongs to no
    account). Whether the role may redeem is the service's to refuse."""
    member = member_of(membership)
    if member is None or not wanted:
        return member, None
    return member, Membership.objects.select_related("program", "tier", "qualified_tier").get(
        pk=member.account.holder_id
    )


class RewardsView(PortalMixin, TemplateView):
    template_name = "portal/rewards.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        wanted = self.request.GET.get("from") == FROM_ACCOUNT
        member, holder = account_source(self.membership, wanted)
        if member is not None and not member.may_redeem:  # a viewer: the page says why
            holder = None
        payer = holder or self.membership
        redemptions = customer_redemptions(customer=self.customer).filter(membership=payer)
        if holder is not None:
            redemptions = redemptions.filter(placed_by=self.membership)
        context.update(
            shelves=reward_shelves(membership=payer),
            redemptions=redemptions[:50],
            account_member=member,
            account_holder=holder
            or (
                Membership.objects.get(pk=member.account.holder_id) if member is not None else None
            ),
            from_account=holder is not None,
        )
        return context


class RedeemView(PortalMixin, TemplateView):
    """GET: the confirmation step. POST: redeem (once per confirmation page)."""

    template_name = "portal/redeem_confirm.html"

    def _reward_and_membership(self):
        """The reward and who pays: the member's own membership, or the shared account's
        holder (``from=account``, with the member as ``by``)."""
        reward = get_object_or_404(
            Reward.objects.select_related("program", "min_tier"), pk=self.kwargs["pk"]
        )
        membership = next((m for m in self.memberships if m.program_id == reward.program_id), None)
        if membership is None:
            raise Http404("not a member of this reward's program")
        wanted = (self.request.POST or self.request.GET).get("from") == FROM_ACCOUNT
        _member, holder = account_source(membership, wanted)
        if holder is not None:
            return reward, holder, membership
        return reward, membership, None

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        reward, membership, by = self._reward_and_membership()
        token = secrets.token_urlsafe(16)
        tokens = self.request.session.get(SESSION_REDEEM_TOKENS, [])[-9:]
        self.request.session[SESSION_REDEEM_TOKENS] = [*tokens, token]
        context.update(
            reward=reward,
            membership=membership,
            program=membership.program,
            balance_after=membership.balance - reward.points_cost,
            token=token,
            from_account=by is not None,
        )
        return context

    def post(self, request, *args, **kwargs):
        reward, membership, by = self._reward_and_membership()
        tokens = request.session.get(SESSION_REDEEM_TOKENS, [])
        token = request.POST.get("token", "")
        if token not in tokens:
            messages.info(request, _("This redemption was already sent. See your vouchers below."))
            return redirect("portal:rewards")
        request.session[SESSION_REDEEM_TOKENS] = [t for t in tokens if t != token]
        if not email_confirmed(request.user):
            messages.error(request, _("Please confirm your e-mail address before redeeming."))
            return redirect("portal:rewards")
        try:
            redemption = reward_redeem(
                membership=membership,
                reward=reward,
                actor=Actor.for_customer(request.user),
                by=by,
            )
        except LoyaltyError as error:
            # a shared account's refusals say why (the role, the monthly limit left)
            text = str(error.message) if error.code.startswith("account_") else error_text(error)
            messages.error(request, text)
            return redirect("portal:rewards")
        messages.success(request, _("Enjoy your reward! Here is your voucher code."))
        return redirect("portal:redemption", pk=redemption.pk)


class RedemptionView(PortalMixin, TemplateView):
    template_name = "portal/redemption.html"
    needs_membership = False

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        redemption = get_object_or_404(
            customer_redemptions(customer=self.customer), pk=kwargs["pk"]
        )
        usable = voucher_status(redemption) == VoucherStatus.ISSUED
        context.update(
            redemption=redemption,
            # Only a voucher that can be used shows its QR code and can be cancelled: an
            # expired one gives no points back (programs.vouchers).
            cancellable=usable,
            qr=qr_svg(redemption.voucher_code, title=_("QR code of your voucher"))
            if usable
            else None,
        )
        return context


class RedemptionCancelView(PortalMixin, TemplateView):
    """GET: the confirmation step (a page, so it works without JavaScript). POST: cancel
    the voucher, give the points back and e-mail the member after the commit."""

    template_name = "portal/redemption_cancel.html"
    needs_membership = False

    def get(self, request, *args, **kwargs):
        redemption = get_object_or_404(
            customer_redemptions(customer=self.customer), pk=kwargs["pk"]
        )
        if voucher_status(redemption) != VoucherStatus.ISSUED:
            return redirect("portal:redemption", pk=redemption.pk)
        context = self.get_context_data(
            redemption=redemption, will_email=voucher_emails_wanted(self.customer)
        )
        return self.render_to_response(context)

    def post(self, request, pk):
        redemption = get_object_or_404(customer_redemptions(customer=self.customer), pk=pk)
        try:
            with transaction.atomic():
                redemption = redemption_cancel(
                    redemption=redemption, actor=Actor.for_customer(request.user)
                )
                voucher_cancelled_email_after_commit(redemption)
        except LoyaltyError as error:
            messages.error(request, error_text(error))
            return redirect("portal:redemption", pk=pk)
        messages.success(
            request,
            _("The voucher for %(reward)s is cancelled; %(points)s points are back.")
            % {"reward": redemption.reward.name, "points": points_text(redemption.points)},
        )
        return redirect("portal:rewards")
