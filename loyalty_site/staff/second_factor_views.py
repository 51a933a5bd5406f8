"""The two pages of a staff member's second factor, part of the staff admin site
(``/admin/second-factor/``): confirming a sign-in with a TOTP code or a passkey, and
setting one up (a TOTP app from a QR code, or a passkey).

A wrong code counts against the device (django-otp waits longer after each one); a code
works once. Setting up is only open to a session that has no device yet or was verified
by one, so a password alone never adds a factor to an account that has one.
"""

from base64 import b32encode
from functools import partial, wraps

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django_otp import login as otp_login
from django_otp import user_has_device
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from loyalty_site.core.audit import audit_record
from loyalty_site.core.models import AuditAction
from loyalty_site.portal.qr import qr_svg
from loyalty_site.staff.second_factor import (
    SETUP,
    VERIFY,
    second_factor_forget,
    second_factor_url,
    user_is_verified,
)


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=10,
        help_text=_("The six digits your authenticator app shows now."),
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def __init__(self, *args, devices, **kwargs):
        super().__init__(*args, **kwargs)
        self.devices = devices
        self.device = None

    def clean_code(self):
        code = "".join(self.cleaned_data["code"].split())
        for device in self.devices:
            allowed, _info = device.verify_is_allowed()
            if not allowed:
                raise ValidationError(_("Too many wrong codes. Wait a moment and try again."))
            if device.verify_token(code):
                self.device = device
                return code
        raise ValidationError(_("This code is not right. Enter the code your app shows now."))


def staff_page(view):
    """A page for a signed-in staff member, whatever they still owe (never cached)."""

    @wraps(view)
    def page(request, *args, **kwargs):
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        return view(request, *args, **kwargs)

    return never_cache(csrf_protect(page))


def next_url(request) -> str:
    """Where to go afterwards: the ``next`` given, if it stays on this site."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("admin:index")


def verified(request, device) -> None:
    """Mark this session verified by ``device`` (a new session key: the rights went up)."""
    request.session.cycle_key()
    otp_login(request, device)
    second_factor_forget(request)


def verify(request, *, site):
    second_factor_forget(request)
    user, target = request.user, next_url(request)
    if user_is_verified(user):
        return redirect(target)
    if request.method == "POST" and "cancel" in request.POST:
        logout(request)
        return redirect("admin:login")
    devices = list(TOTPDevice.objects.devices_for_user(user, confirmed=True))
    passkeys = WebAuthnCredential.objects.filter(user=user, confirmed=True).exists()
    if not devices and not passkeys:
        return redirect(second_factor_url(SETUP, target))
    form = None
    if devices:
        form = CodeForm(request.POST if request.method == "POST" else None, devices=devices)
        if form.is_valid():
            verified(request, form.device)
            return redirect(target)
    context = {
        **site.each_context(request),
        "title": _("Confirm your sign-in"),
        "form": form,
        "passkeys": passkeys,
        "next": target,
    }
    return TemplateResponse(request, "admin/second_factor/verify.html", context)


def pending_totp_device(user) -> TOTPDevice:
    """The user's TOTP device waiting for its first code (made once, shown until used)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    return device or TOTPDevice.objects.create(
        user=user, name=str(_("Authenticator app")), confirmed=False
    )


def setup(request, *, site):
    second_factor_forget(request)
    user, target = request.user, next_url(request)
    if not user_is_verified(user) and user_has_device(user, confirmed=True):
        return redirect(second_factor_url(VERIFY, target))
    has_app = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    context = {
        **site.each_context(request),
        "title": _("Set up your second factor"),
        "has_app": has_app,
        "passkeys": WebAuthnCredential.objects.filter(user=user, confirmed=True).count(),
        "verified": user_is_verified(user),
        "next": target,
    }
    if not has_app:
        device = pending_totp_device(user)
        form = CodeForm(request.POST if request.method == "POST" else None, devices=[device])
        if form.is_valid():
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            verified(request, device)
            audit_record(user=user, action=AuditAction.SECOND_FACTOR, obj=device, note="TOTP")
            messages.success(request, _("Your authenticator app is set up."))
            return redirect(target)
        secret = b32encode(device.bin_key).decode()
        context |= {
            "form": form,
            "qr": qr_svg(device.config_url, title=str(_("QR code for your authenticator app"))),
            "secret": " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        }
    return TemplateResponse(request, "admin/second_factor/setup.html", context)


def second_factor_urls(site) -> list:
    """The pages' URLs, added to the staff admin site (``admin:second_factor_*``)."""
    return [
        path(
            "second-factor/",
            staff_page(partial(verify, site=site)),
            name=f"second_factor_{VERIFY}",
        ),
        path(
            "second-factor/setup/",
            staff_page(partial(setup, site=site)),
            name=f"second_factor_{SETUP}",
        ),
    ]
