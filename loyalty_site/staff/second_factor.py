"""Staff sign in with their password, then a second factor: a code from a TOTP app or a
passkey (django-otp, django-otp-webauthn).

``second_factor_due`` decides what a signed-in staff member still owes:

* nothing, once this session was verified by one of their devices;
* ``verify``, when they have a device: the code or the passkey (asked in every
  environment, so a device once set up always counts);
* ``setup``, when they have none and ``STAFF_2FA_REQUIRED`` is on (always in production):
  a TOTP app from a QR code, or a passkey, before any admin page.

``StaffSecondFactorMiddleware`` sends them there from every page but the few that get them
through (the two pages themselves, the passkey ceremonies, language switching); the staff
admin site refuses them as well (``StaffAdminSite.has_permission``).

Whether a staff member has a device is looked up when they sign in and kept in the session
(no query per page); the two pages look again, and forget it when they find it changed.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.shortcuts import redirect
from django.urls import reverse
from django_otp import user_has_device

from loyalty_site.core.outage import DATABASE_UNAVAILABLE

VERIFY = "verify"
SETUP = "setup"
OPEN_VIEWS = frozenset(
    {"admin:second_factor_verify", "admin:second_factor_setup", "set_language", "healthz"}
)
OPEN_NAMESPACES = frozenset({"otp_webauthn"})  # passkey ceremonies check the session themselves


def user_is_verified(user) -> bool:
    """Whether this session was confirmed by one of the user's devices (OTPMiddleware)."""
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


DUE = "_second_factor_due"
DEVICES = "staff_second_factor_devices"  # in the session: [user id, has a confirmed device]


@receiver(user_logged_in, dispatch_uid="staff_second_factor_devices")
def devices_remember(sender, request, user, **kwargs) -> None:
    if user.is_staff and hasattr(request, "session"):
        request.session[DEVICES] = [user.pk, user_has_device(user, confirmed=True)]


def has_device(request, user) -> bool:
    """Whether ``user`` has a confirmed device (as remembered in this session)."""
    remembered = request.session.get(DEVICES)
    if not remembered or remembered[0] != user.pk:
        remembered = [user.pk, user_has_device(user, confirmed=True)]
        request.session[DEVICES] = remembered
    return remembered[1]


def second_factor_due(request) -> str | None:
    """``VERIFY``, ``SETUP`` or None (nothing owed, or not a signed-in staff member);
    worked out once per request (the middleware, the site and its pages all ask)."""
    if not hasattr(request, DUE):
        setattr(request, DUE, _due(request))
    return getattr(request, DUE)


def second_factor_forget(request) -> None:
    """Work it out again, devices included (the second-factor pages, which may have just
    verified the session or found the devices changed)."""
    if hasattr(request, DUE):
        delattr(request, DUE)
    request.session.pop(DEVICES, None)


def _due(request) -> str | None:
    user = request.user
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return None
    if user_is_verified(user):
        return None
    if has_device(request, user):
        return VERIFY
    return SETUP if settings.STAFF_2FA_REQUIRED else None


def second_factor_url(step: str, next_url: str = "") -> str:
    url = reverse(f"admin:second_factor_{step}")
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


class StaffSecondFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path.startswith("/api/"):
            return None
        try:
            step = second_factor_due(request)
        except DATABASE_UNAVAILABLE:
            return None  # the view meets the outage too, and shows the outage page
        if step is None:
            return None
        match = request.resolver_match
        if match.view_name in OPEN_VIEWS or OPEN_NAMESPACES & set(match.namespaces):
            return None
        return redirect(second_factor_url(step, request.get_full_path()))
