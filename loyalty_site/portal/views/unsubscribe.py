"""One-click unsubscribe from the link in an e-mail (``loyalty_site.core.email_links``).

``POST`` switches that kind of e-mail off (``customers.preferences``) without a login or a
CSRF token: mail programs post ``List-Unsubscribe=One-Click`` to the address in the
``List-Unsubscribe`` header (RFC 8058), and the confirmation page's button posts the same.
Doing it twice changes nothing. ``GET`` only shows the page with that button: mail
scanners open links, and opening one must not unsubscribe anyone. A link that was not
signed by us or has expired gets a 400 page that says so and points to the profile.
"""

from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from customers.models import Customer
from customers.preferences import (
    PREFERENCE_FIELDS,
    customer_preferences,
    customer_preferences_update,
)
from loyalty_site.core.email_links import UnsubscribeLinkInvalid, unsubscribe_token_read

# What the customer stops receiving, by switch, as the page names it.
TOPICS = {
    "email_tier_changes": _("tier upgrades and downgrades"),
    "email_tier_progress": _("the next tier within reach"),
    "email_points_expiry": _("points about to expire"),
    "email_rewards": _("redeemed rewards"),
    "email_referrals": _("referral rewards"),
    "email_marketing": _("news and offers"),
    "email_surveys": _("short surveys"),
}


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(View):
    http_method_names = ["get", "post"]

    def dispatch(self, request, *args, token: str, **kwargs):
        try:
            customer_id, self.switch = unsubscribe_token_read(token)
        except UnsubscribeLinkInvalid as invalid:
            return self.invalid(request, invalid.reason)
        self.customer = Customer.objects.filter(pk=customer_id).first()
        if self.customer is None or self.switch not in PREFERENCE_FIELDS:
            return self.invalid(request, "invalid")
        return super().dispatch(request, *args, **kwargs)

    def invalid(self, request, reason: str):
        return render(request, "portal/unsubscribe_invalid.html", {"reason": reason}, status=400)

    def page(self, request, *, done: bool):
        context = {
            "topic": TOPICS.get(self.switch, self.switch),
            "done": done,
            "already_off": not customer_preferences(self.customer)[self.switch],
        }
        return render(request, "portal/unsubscribe.html", context)

    def get(self, request):
        return self.page(request, done=False)

    def post(self, request):
        customer_preferences_update(self.customer, **{self.switch: False})
        return self.page(request, done=True)
