"""Partners asking to link the customer's account (``programs.services.link_claims``): a
partner gave the customer's e-mail address for one of its customers. The customer
confirms (their points there join this account and the partner sees their membership) or
declines (the partner learns nothing)."""

from django.contrib import messages
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.generic import TemplateView

from loyalty_site.portal.views.base import PortalMixin
from programs.errors import LoyaltyError
from programs.services.link_claims import claim_confirm, claim_decline, claims_open_for


class LinksView(PortalMixin, TemplateView):
    template_name = "portal/links.html"
    needs_membership = False

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["claims"] = claims_open_for(self.customer)
        return context

    def post(self, request):
        try:
            claim_id = int(request.POST.get("claim", ""))
        except ValueError:
            return redirect("portal:links")
        answer = request.POST.get("answer")
        try:
            if answer == "confirm":
                claim = claim_confirm(claim_id=claim_id, customer=self.customer)
                messages.success(
                    request,
                    _("Linked: your points at %(partner)s are now in your account.")
                    % {"partner": claim.link.partner.name},
                )
            elif answer == "decline":
                claim = claim_decline(claim_id=claim_id, customer=self.customer)
                messages.success(
                    request,
                    _("Declined: %(partner)s sees nothing of your account.")
                    % {"partner": claim.link.partner.name},
                )
        except LoyaltyError as error:
            messages.error(request, str(error.message))
        return redirect("portal:links")
