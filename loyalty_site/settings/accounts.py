"""Settings of accounts: staff's second factor and adjustment limit, and how long customer
data is kept. ``base`` star-imports them and sets the passkey names from ``SITE_URL``
(``passkey_settings``); ``production`` always requires the second factor."""

from urllib.parse import urlparse

from loyalty_site.env import env_bool, env_int

# Staff: a second factor (a TOTP app or a passkey) after the password (loyalty_site/staff).
# Required: staff without one are sent to set one up before any admin page (production
# always requires it). Not required: offered, and asked for once a staff member has one.
STAFF_2FA_REQUIRED = env_bool("STAFF_2FA_REQUIRED", default=False)
OTP_WEBAUTHN_RP_NAME = "Treueprogramm"
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False  # a passkey is the second factor, not the first
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # no one reads another's TOTP key in the admin
# Staff adjust a balance by at most this many points at once (either way); larger
# adjustments need the permission programs.adjust_points_unlimited (role "Administration").
STAFF_ADJUSTMENT_LIMIT = env_int("STAFF_ADJUSTMENT_LIMIT", 1000, minimum=1)
# Retention (programs.services.retention, docs/security.md): customers inactive for
# RETENTION_INACTIVE_YEARS are anonymised by a nightly job; those with unspent points are
# told by e-mail RETENTION_NOTICE_DAYS before.
RETENTION_INACTIVE_YEARS = env_int("RETENTION_INACTIVE_YEARS", 3, minimum=1)
RETENTION_NOTICE_DAYS = env_int("RETENTION_NOTICE_DAYS", 30, minimum=1)


def passkey_settings(site_url: str) -> tuple[str, list[str], str]:
    """``OTP_WEBAUTHN_RP_ID``, ``OTP_WEBAUTHN_ALLOWED_ORIGINS`` and ``OTP_TOTP_ISSUER`` for
    the site's address: passkeys are bound to a host name and work over https, or on
    localhost in development."""
    site = urlparse(site_url)
    host = site.hostname if site.scheme == "https" else "localhost"
    port = f":{site.port}" if site.port else ""
    return host, [f"{site.scheme}://{host}{port}"], f"Treueprogramm ({site.hostname})"
