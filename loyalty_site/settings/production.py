"""Production settings: fail fast when a deployment leaves out what it must set."""

from django.core.exceptions import ImproperlyConfigured

from loyalty_site.env import env_bool, env_int

from .base import *  # noqa: F403
from .base import (
    ALLOWED_HOSTS_FROM_ENV,
    EMAIL_URL_FROM_ENV,
    SECRET_KEY_FROM_ENV,
    SITE_URL_FROM_ENV,
)

if not SECRET_KEY_FROM_ENV or len(SECRET_KEY_FROM_ENV) < 50:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random string of at least 50 characters in production, "
        "e.g. python -c 'import secrets; print(secrets.token_urlsafe(64))'."
    )
SECRET_KEY = SECRET_KEY_FROM_ENV
if not ALLOWED_HOSTS_FROM_ENV:
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS must list the host names this site answers to, e.g. loyalty.example.com."
    )
ALLOWED_HOSTS = ALLOWED_HOSTS_FROM_ENV
if not SITE_URL_FROM_ENV.startswith("https://"):
    raise ImproperlyConfigured(
        "SITE_URL must be the public https:// address of the site; links in e-mails use it."
    )
if not EMAIL_URL_FROM_ENV:
    raise ImproperlyConfigured(
        "EMAIL_URL must be set in production, e.g. smtp://user:password@mail.example.com:587?tls=1."
    )

# Every staff sign-in needs a second factor in production; it cannot be switched off here.
if not env_bool("STAFF_2FA_REQUIRED", default=True):
    raise ImproperlyConfigured(
        "STAFF_2FA_REQUIRED cannot be turned off in production: staff accounts move points, "
        "which are money. Remove the variable (or set it to 1)."
    )
STAFF_2FA_REQUIRED = True

DEBUG = False
OUTBOUND_ALLOW_PRIVATE_NETWORKS = env_bool("OUTBOUND_ALLOW_PRIVATE_NETWORKS", default=False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
