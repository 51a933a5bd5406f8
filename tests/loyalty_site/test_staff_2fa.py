"""A staff sign-in needs a second factor: with STAFF_2FA_REQUIRED (production) a staff
member without one is sent to set it up before any admin page; once they have one, every
sign-in asks for its code (or a passkey), in development too."""

import re
import time

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from loyalty_site.core.models import AuditEntry
from tests.factories import UserFactory
from tests.loyalty_site.test_deploy_check import run_manage

pytestmark = pytest.mark.django_db
PASSWORD = "pw-for-tests"


def code_of(device: TOTPDevice, *, offset: int = 0) -> str:
    """The code the device's app shows now (offset: that many steps later)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset * device.step
    return f"{totp.token():0{device.digits}d}"


def wrong_code_for(device: TOTPDevice) -> str:
    right = {code_of(device, offset=step) for step in (-1, 0, 1)}
    return next(code for code in ("123456", "654321", "111111") if code not in right)


@pytest.fixture
def staff():
    user = UserFactory(username="mara", is_staff=True)
    user.groups.add(Group.objects.get(name="Kundenservice"))
    return user


@pytest.fixture
def device(staff):
    return TOTPDevice.objects.create(user=staff, name="Telefon", confirmed=True)


def sign_in(client, user):
    """The admin's own login form (password only), as a browser sends it."""
    response = client.post(
        reverse("admin:login"), {"username": user.username, "password": PASSWORD}
    )
    assert response.status_code == 302, response.content.decode()[:500]
    return response


def redirect_path(response) -> str:
    return response["Location"].split("?")[0]


@override_settings(STAFF_2FA_REQUIRED=True)
def test_required_staff_without_a_factor_is_sent_to_set_one_up_before_any_admin_page(client, staff):
    sign_in(client, staff)
    for url in (
        reverse("admin:index"),
        reverse("admin:customers_customer_changelist"),
        reverse("admin:programs_membership_changelist"),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert redirect_path(response) == reverse("admin:second_factor_setup")
        assert f"next={url.replace('/', '%2F')}" in response["Location"]


@override_settings(STAFF_2FA_REQUIRED=True)
def test_setup_shows_a_qr_code_and_the_apps_code_lets_the_staff_member_in(client, staff):
    sign_in(client, staff)
    page = client.get(reverse("admin:second_factor_setup"), {"next": "/admin/"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html  # the QR code of the otpauth:// URI, drawn inline
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    assert page.context["secret"].replace(" ", "") in device.config_url
    assert "issuer=Treueprogramm" in device.config_url

    response = client.post(
        reverse("admin:second_factor_setup"), {"code": code_of(device), "next": "/admin/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(reverse("admin:index")).status_code == 200
    setup = AuditEntry.objects.get(action="second_factor")
    assert (setup.actor_id, setup.model) == (staff.pk, "otp_totp.totpdevice")


@override_settings(STAFF_2FA_REQUIRED=True)
def test_setup_refuses_a_wrong_code(client, staff):
    sign_in(client, staff)
    client.get(reverse("admin:second_factor_setup"))
    device = TOTPDevice.objects.get(user=staff)
    response = client.post(reverse("admin:second_factor_setup"), {"code": wrong_code_for(device)})
    assert response.status_code == 200
    assert "Dieser Code stimmt nicht" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert redirect_path(client.get(reverse("admin:index"))) == reverse("admin:second_factor_setup")


@pytest.mark.parametrize("required", [True, False], ids=["production", "development"])
def test_a_staff_member_with_a_device_must_give_its_code(client, settings, staff, device, required):
    settings.STAFF_2FA_REQUIRED = required
    sign_in(client, staff)
    response = client.get(reverse("admin:index"))
    assert redirect_path(response) == reverse("admin:second_factor_verify")

    response = client.post(
        reverse("admin:second_factor_verify"), {"code": code_of(device), "next": "/admin/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_wrong_code_does_not_let_the_staff_member_in(client, staff, device):
    sign_in(client, staff)
    response = client.post(reverse("admin:second_factor_verify"), {"code": wrong_code_for(device)})
    assert response.status_code == 200
    assert "Dieser Code stimmt nicht" in response.content.decode()
    assert redirect_path(client.get(reverse("admin:index"))) == reverse(
        "admin:second_factor_verify"
    )
    # django-otp counts the failure: the next try has to wait.
    device.refresh_from_db()
    assert device.throttling_failure_count == 1


def test_a_code_works_once(client, staff, device):
    code = code_of(device)
    sign_in(client, staff)
    client.post(reverse("admin:second_factor_verify"), {"code": code})
    client.logout()
    sign_in(client, staff)
    response = client.post(reverse("admin:second_factor_verify"), {"code": code})
    assert response.status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302


def test_a_password_alone_cannot_add_a_factor_to_an_account_that_has_one(client, staff, device):
    sign_in(client, staff)
    response = client.get(reverse("admin:second_factor_setup"))
    assert redirect_path(response) == reverse("admin:second_factor_verify")
    assert not TOTPDevice.objects.filter(user=staff, confirmed=False).exists()


def test_in_development_a_staff_member_without_a_factor_is_offered_one(client, staff):
    sign_in(client, staff)
    page = client.get(reverse("admin:index"))
    assert page.status_code == 200
    assert reverse("admin:second_factor_setup") in page.content.decode()


def test_the_staff_member_may_log_out_instead(client, staff, device):
    sign_in(client, staff)
    response = client.post(reverse("admin:second_factor_verify"), {"cancel": "1"})
    assert redirect_path(response) == reverse("admin:login")
    assert "_auth_user_id" not in client.session


@override_settings(STAFF_2FA_REQUIRED=True)
def test_the_pages_load_their_scripts_from_files_only(client, staff):
    sign_in(client, staff)
    response = client.get(reverse("admin:second_factor_setup"))
    html = response.content.decode()
    scripts = re.findall(r"<script([^>]*)>", html)
    assert any("otp_webauthn_register.js" in attrs for attrs in scripts)
    for attrs in scripts:  # a file, or data the browser never runs
        assert "src=" in attrs or 'type="application/json"' in attrs, attrs
    assert "unsafe-inline" not in response["Content-Security-Policy"]


def test_passkey_ceremonies_are_for_staff_only(client):
    customer_login = UserFactory(username="kunde")
    client.force_login(customer_login)
    response = client.post(reverse("otp_webauthn:credential-registration-begin"))
    assert response.status_code == 403
    assert response.json()["code"] == "not_staff"


def test_a_staff_member_without_a_factor_may_start_a_passkey(client, settings, staff):
    settings.STAFF_2FA_REQUIRED = True
    sign_in(client, staff)
    response = client.post(
        reverse("otp_webauthn:credential-registration-begin"), content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["rp"]["id"] == settings.OTP_WEBAUTHN_RP_ID


def test_login_lockout_still_guards_the_admin_login(client, settings, staff):
    for _attempt in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("admin:login"), {"username": staff.username, "password": "wrong"})
    response = client.post(
        reverse("admin:login"), {"username": staff.username, "password": PASSWORD}
    )
    assert response.status_code != 302
    assert "_auth_user_id" not in client.session


def test_production_settings_require_the_second_factor(tmp_path):
    shown = run_manage(
        tmp_path,
        "shell",
        "-c",
        "from django.conf import settings; print(settings.STAFF_2FA_REQUIRED)",
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-1] == "True"


def test_production_refuses_to_start_with_the_second_factor_switched_off(tmp_path):
    result = run_manage(tmp_path, "check", STAFF_2FA_REQUIRED="0")
    assert result.returncode != 0
    assert "ImproperlyConfigured: STAFF_2FA_REQUIRED cannot be turned off" in result.stderr


@override_settings(STAFF_2FA_REQUIRED=True)
def test_a_device_removed_by_an_administrator_is_noticed(client, staff, device):
    sign_in(client, staff)
    assert redirect_path(client.get(reverse("admin:index"))) == reverse(
        "admin:second_factor_verify"
    )
    device.delete()  # the phone was lost; an administrator removed it
    response = client.get(reverse("admin:second_factor_verify"))
    assert redirect_path(response) == reverse("admin:second_factor_setup")
    assert client.get(response["Location"]).status_code == 200
