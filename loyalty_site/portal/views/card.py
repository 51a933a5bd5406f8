"""The member card: its number and QR code (printable), the rotating code that proves at
a till that the customer is there (``programs.services.card_proofs``), and the PIN the
customer may enter instead. One card per membership: the page shows the card of the
program chosen in the portal (``PortalMixin``)."""

import math
from datetime import timedelta

from django import forms
from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from loyalty_site.portal.limits import limit_wait, too_many_attempts
from loyalty_site.portal.qr import qr_svg
from loyalty_site.portal.views.base import PortalMixin
from programs.cards import card_number_display
from programs.models import CardProof, Membership
from programs.services.card_proofs import (
    CODE_STEP_SECONDS,
    code_current,
    pin_clear,
    pin_error,
    pin_set,
)

PIN_WIDGET = {"inputmode": "numeric", "autocomplete": "off", "maxlength": "6", "size": "6"}


class PinForm(forms.Form):
    pin = forms.CharField(
        label=gettext_lazy("New PIN"),
        max_length=32,
        widget=forms.PasswordInput(PIN_WIDGET),
        help_text=gettext_lazy("4 to 6 digits, not too easy to guess (not 1111 or 1234)."),
    )
    pin_again = forms.CharField(
        label=gettext_lazy("Repeat the PIN"), max_length=32, widget=forms.PasswordInput(PIN_WIDGET)
    )
    password = forms.CharField(
        label=gettext_lazy("Your password"),
        strip=False,
        widget=forms.PasswordInput({"autocomplete": "current-password"}),
        help_text=gettext_lazy("To make sure it is you: the password you log in with."),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_pin(self):
        pin = self.cleaned_data["pin"]
        if message := pin_error(pin):
            raise forms.ValidationError(message, code="pin_invalid")
        return pin

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(
                gettext_lazy("This is not your password. Enter the password you log in with."),
                code="wrong_password",
            )
        return password

    def clean(self):
        data = super().clean()
        pin, again = data.get("pin"), data.get("pin_again")
        if pin and again is not None and pin != again:
            self.add_error(
                "pin_again", gettext_lazy("The two PINs differ. Enter the same PIN twice.")
            )
        return data


def code_shown(membership: Membership) -> dict:
    """The rotating code as the page shows it: QR code, digits, seconds it stays valid,
    and seconds until the next code is due (then the page fetches it, so the code shown
    is always valid for at least one more step)."""
    now = timezone.now()
    text, valid_until = code_current(membership, now=now)
    next_code_at = valid_until - timedelta(seconds=CODE_STEP_SECONDS)
    digits = text.rsplit(".", 1)[1]
    return {
        "svg": qr_svg(text, title=_("Code to pay at the till")),
        "digits": [digits[:4], digits[4:]],
        "valid_until": valid_until,
        "seconds_left": math.ceil((valid_until - now).total_seconds()),
        "refresh_in": max(1, math.ceil((next_code_at - now).total_seconds())),
    }


def card_url(membership: Membership, name: str = "portal:card") -> str:
    return f"{reverse(name)}?program={membership.program.slug}"


@method_decorator(never_cache, name="dispatch")
class CardView(PortalMixin, TemplateView):
    """GET: the card. POST: set or change the PIN (``action=set_pin``) or remove it."""

    template_name = "portal/card.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        membership = self.membership
        card = CardProof.objects.filter(membership=membership).first()
        locked = card.pin_locked_until if card and card.pin_hash else None
        context.update(
            card_number=card_number_display(membership.card_number),
            card_qr=qr_svg(membership.card_number, title=_("QR code of your card number")),
            code=code_shown(membership),
            code_url=card_url(membership, "portal:card_code"),
            form_url=card_url(membership),
            pin_set_at=card.pin_set_at if card and card.pin_hash else None,
            pin_locked_until=locked if locked and locked > timezone.now() else None,
            pin_form=kwargs.get("pin_form") or PinForm(user=self.request.user),
        )
        return context

    def post(self, request, *args, **kwargs):
        if request.POST.get("action") == "remove_pin":
            pin_clear(self.membership)
            messages.success(request, _("Your PIN is removed. At the till, show the code above."))
            return redirect(card_url(self.membership))
        # The form checks the password: guessing it is limited as on the password change.
        wait = limit_wait("password_change", request, email=self.customer.email)
        if wait is not None:
            return too_many_attempts(request, wait)
        form = PinForm(request.POST, user=request.user)
        if not form.is_valid():
            return self.render_to_response(self.get_context_data(pin_form=form), status=400)
        pin_set(self.membership, form.cleaned_data["pin"])
        messages.success(
            request,
            _("Your PIN is set. At the till you can now enter it instead of showing the code."),
        )
        return redirect(card_url(self.membership))


@method_decorator(never_cache, name="dispatch")
class CardCodeView(PortalMixin, View):
    """The current rotating code as JSON, for the card page's script."""

    def get(self, request):
        code = code_shown(self.membership)
        return JsonResponse(
            {
                "svg": str(code["svg"]),
                "digits": code["digits"],
                "valid_until": code["valid_until"].isoformat(),
                "seconds_left": code["seconds_left"],
                "refresh_in": code["refresh_in"],
            }
        )
