"""Passkeys in the staff admin, next to django-otp's TOTP devices (which register
themselves): the library ships the admin class but leaves registering it to the site. An
administrator removes a lost passkey or app here; the staff member then sets up a new one
at their next sign-in."""

from django.contrib import admin
from django_otp_webauthn.admin import WebAuthnCredentialAdmin
from django_otp_webauthn.models import WebAuthnCredential

admin.site.register(WebAuthnCredential, WebAuthnCredentialAdmin)
