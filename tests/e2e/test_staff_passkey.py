"""In a real browser, under the Content-Security-Policy: a staff member without a second
factor is sent to set one up, sets up a passkey (Chromium's virtual authenticator stands in
for the phone or security key), and at the next sign-in confirms with it, with no script the
policy refuses."""

from importlib import import_module

import pytest
from django.contrib.auth.models import Group, Permission
from django_otp_webauthn.models import WebAuthnCredential

from loyalty_site.core.models import AuditEntry
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests"
WATCH = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.effectiveDirective} blocked ${event.blockedURI}`);
});
"""


@pytest.fixture
def passkey_site(settings, live_server):
    settings.STAFF_2FA_REQUIRED = True
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [live_server.url]
    staff = UserFactory(username="mara", is_staff=True)
    # A live server's test flushes the tables afterwards, so the groups the roles migration
    # created may be gone: make the support role as that migration does.
    roles = import_module("loyalty_site.migrations.0001_staff_roles")
    support, _ = Group.objects.get_or_create(name="Kundenservice")
    support.permissions.add(*roles.role_permissions(Permission, roles.ROLES["Kundenservice"]))
    staff.groups.add(support)
    return staff


@pytest.fixture
def authenticator(page):
    """A platform authenticator that says yes, as a phone with a fingerprint would."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp


def sign_in(page, base):
    page.goto(f"{base}/admin/login/")
    page.locator("#id_username").fill("mara")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()


def test_a_staff_member_sets_up_a_passkey_and_signs_in_with_it(
    page, shot, live_server, passkey_site, authenticator
):
    base = live_server.url
    page.add_init_script(WATCH)
    sign_in(page, base)
    page.wait_for_url(f"{base}/admin/second-factor/setup/**")
    page.wait_for_load_state("networkidle")
    assert page.locator(".second-factor-qr svg").is_visible()
    shot("staff-01-second-factor-setup")

    page.get_by_role("button", name="Passkey einrichten").click()
    page.wait_for_function("() => document.querySelector('.passkey-status.visible')")
    page.wait_for_load_state("networkidle")
    assert WebAuthnCredential.objects.filter(user=passkey_site, confirmed=True).count() == 1
    assert page.evaluate("window.cspViolations") == []

    page.goto(f"{base}/admin/")
    page.wait_for_url(f"{base}/admin/")
    assert page.locator("#site-name").is_visible()

    page.context.clear_cookies()
    sign_in(page, base)
    page.wait_for_url(f"{base}/admin/second-factor/**")
    page.wait_for_load_state("networkidle")
    shot("staff-02-second-factor-verify")
    page.get_by_role("button", name="Mit Passkey bestätigen").click()
    page.wait_for_url(f"{base}/admin/")
    assert page.locator("#site-name").is_visible()
    assert page.evaluate("window.cspViolations") == []
    assert not AuditEntry.objects.filter(action="change").exists()
