"""What every signed-in portal page shares: the customer behind ``request.user``, their
memberships and the program being looked at (``?program=<slug>``, remembered)."""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse, translate_url
from django.utils import translation

from loyalty_site.portal.selectors import customer_memberships
from loyalty_site.portal.services import email_confirmed
from loyalty_site.portal.shared_account_selectors import portal_customer

SESSION_PROGRAM = "portal_program"


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def redirect_in_language(request, url: str, language: str) -> HttpResponseRedirect:
    """Redirect to ``url`` in ``language`` and remember the choice like set_language does."""
    response = HttpResponseRedirect(translate_url(url, language))
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


def url_in(language: str, name: str, *args) -> str:
    with translation.override(language):
        return reverse(name, args=args)


class PortalMixin:
    """Signed-in customers only; sets ``customer``, ``memberships`` and ``membership``."""

    needs_membership = True

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        self.customer = portal_customer(user=request.user)
        if self.customer is None:
            return render(
                request,
                "portal/no_customer.html",
                {"email_confirmed": email_confirmed(request.user)},
                status=403,
            )
        self.memberships = customer_memberships(customer=self.customer)
        self.membership = self._choose(request)
        if self.membership is None and self.needs_membership:
            return render(request, "portal/no_membership.html", {"customer": self.customer})
        return super().dispatch(request, *args, **kwargs)

    def _choose(self, request):
        by_slug = {m.program.slug: m for m in self.memberships}
        asked = request.GET.get("program")
        if asked in by_slug:
            request.session[SESSION_PROGRAM] = asked
            return by_slug[asked]
        remembered = by_slug.get(request.session.get(SESSION_PROGRAM))
        if remembered is not None or not self.memberships:
            return remembered
        # First visit: the program the customer has collected the most points in.
        return max(self.memberships, key=lambda m: (m.lifetime_earned, -m.pk))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            customer=self.customer,
            memberships=self.memberships,
            membership=self.membership,
            program=self.membership.program if self.membership else None,
            email_confirmed=email_confirmed(self.request.user),
            shared_account_nav=self.customer.shared_account_shown,
        )
        return context
