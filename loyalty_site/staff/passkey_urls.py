"""The passkey ceremonies of django-otp-webauthn (JSON, called by its static scripts on the
second-factor pages), open to signed-in staff only: a customer's portal login has no use
for them. The namespace stays ``otp_webauthn``, which the library's template tags use."""

from functools import wraps

from django.http import JsonResponse
from django.urls import path
from django.utils.translation import gettext as _
from django.views.i18n import JavaScriptCatalog
from django_otp_webauthn import views

app_name = "otp_webauthn"


def staff_only(view):
    @wraps(view)
    def ceremony(request, *args, **kwargs):
        user = request.user
        if not (user.is_authenticated and user.is_active and user.is_staff):
            detail = _("Passkeys are for staff who are signed in.")
            return JsonResponse({"detail": detail, "code": "not_staff"}, status=403)
        return view(request, *args, **kwargs)

    return ceremony


urlpatterns = [
    path(
        "registration/begin/",
        staff_only(views.BeginCredentialRegistrationView.as_view()),
        name="credential-registration-begin",
    ),
    path(
        "registration/complete/",
        staff_only(views.CompleteCredentialRegistrationView.as_view()),
        name="credential-registration-complete",
    ),
    path(
        "authentication/begin/",
        staff_only(views.BeginCredentialAuthenticationView.as_view()),
        name="credential-authentication-begin",
    ),
    path(
        "authentication/complete/",
        staff_only(views.CompleteCredentialAuthenticationView.as_view()),
        name="credential-authentication-complete",
    ),
    path(
        "jsi18n/",
        JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]),
        name="js-i18n-catalog",
    ),
]
