"""API keys at the door: missing, malformed, unknown, revoked keys; scopes; logging."""

import logging
from datetime import timedelta

import pytest
from django.contrib.admin import site as admin_site
from django.test import RequestFactory
from django.utils import timezone
from rest_framework.test import APIClient

from programs.admin.programs import PartnerAdmin
from programs.api.admin import ApiKeyAdmin
from programs.models import ApiKey, Partner
from programs.services.api_keys import api_key_forget, api_key_revoke
from tests.api.conftest import assert_problem, client_for, enroll
from tests.factories import StaffFactory


@pytest.fixture
def anonymous(db):
    return APIClient()


def test_no_key_is_401_with_www_authenticate(anonymous):
    response = anonymous.get("/api/v1/members")
    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


@pytest.mark.parametrize(
    "header",
    ["Token abc", "Basic dXNlcjpwdw==", "Bearer", "Bearer "],
)
def test_wrong_authorization_scheme_is_401(anonymous, header):
    response = anonymous.get("/api/v1/members", HTTP_AUTHORIZATION=header)
    assert_problem(response, 401, "invalid_authorization_header")


@pytest.mark.parametrize(
    "key",
    [
        "not-a-key",
        "lk_live_abcdefgh_" + "x" * 10,
        "lk_live_abcdefgh_" + "x" * 43,  # well formed, unknown prefix
        "lk_test_abcdefgh_" + "x" * 43,
    ],
)
def test_unknown_or_malformed_key_is_401(anonymous, key):
    response = anonymous.get("/api/v1/members", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert_problem(response, 401, "invalid_api_key")


def test_right_prefix_wrong_secret_is_401(api, anonymous):
    forged = api.plaintext[:17] + ("A" if api.plaintext[17] != "A" else "B") + api.plaintext[18:]
    response = anonymous.get("/api/v1/members", HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert_problem(response, 401, "invalid_api_key")


def test_revoked_key_is_401(api):
    assert api.get("/api/v1/members").status_code == 200
    api_key_revoke(api_key=api.api_key)
    assert_problem(api.get("/api/v1/members"), 401, "invalid_api_key")


def test_key_of_inactive_partner_is_401(api, partner):
    partner.is_active = False
    partner.save()
    assert_problem(api.get("/api/v1/members"), 401, "invalid_api_key")


def test_x_api_key_header_works(partner):
    client = client_for(partner, header="x-api-key")
    assert client.get("/api/v1/members").status_code == 200


def test_several_active_keys_per_partner(partner):
    old, new = client_for(partner), client_for(partner)
    assert old.get("/api/v1/members").status_code == 200
    assert new.get("/api/v1/members").status_code == 200
    api_key_revoke(api_key=old.api_key)
    assert old.get("/api/v1/members").status_code == 401
    assert new.get("/api/v1/members").status_code == 200


def test_read_only_key_cannot_write(api, api_read, member, reward):
    assert api_read.get("/api/v1/members/c-1").status_code == 200
    body = {"email": "x@example.com"}
    assert_problem(api_read.put("/api/v1/members/c-2", body), 403, "insufficient_scope")
    purchase = {"member": "c-1", "order_id": "o-1", "amount": "1.00"}
    assert_problem(api_read.post("/api/v1/purchases", purchase), 403, "insufficient_scope")
    assert_problem(
        api_read.post("/api/v1/members/c-1/redemptions", {"reward": reward.pk}),
        403,
        "insufficient_scope",
    )
    action = {"code": "review", "reference": "r1"}
    assert_problem(api_read.post("/api/v1/members/c-1/actions", action), 403, "insufficient_scope")


def test_write_key_cannot_redeem_and_redeem_key_cannot_write(partner, api, member, reward):
    writer = client_for(partner, scopes=("read", "write"))
    body = assert_problem(
        writer.post("/api/v1/members/c-1/redemptions", {"reward": reward.pk}),
        403,
        "insufficient_scope",
    )
    assert "'redeem'" in body["detail"]
    redemption = api.post("/api/v1/members/c-1/redemptions", {"reward": reward.pk}).json()
    assert_problem(
        writer.post(f"/api/v1/redemptions/{redemption['id']}/cancel"), 403, "insufficient_scope"
    )
    redeemer = client_for(partner, scopes=("redeem",))
    assert_problem(redeemer.put("/api/v1/members/c-9", {}), 403, "insufficient_scope")
    assert_problem(redeemer.get("/api/v1/members/c-1"), 403, "insufficient_scope")
    assert redeemer.post(f"/api/v1/redemptions/{redemption['id']}/cancel").status_code == 200


def test_last_used_is_recorded_at_most_once_a_minute(api):
    assert api.api_key.last_used_at is None
    api.get("/api/v1/members")
    first = ApiKey.objects.get(pk=api.api_key.pk).last_used_at
    assert first is not None
    api.get("/api/v1/members")
    assert ApiKey.objects.get(pk=api.api_key.pk).last_used_at == first
    ApiKey.objects.filter(pk=api.api_key.pk).update(last_used_at=first - timedelta(minutes=2))
    api_key_forget(api.api_key.prefix)  # stands in for the 10-second cache running out
    api.get("/api/v1/members")
    assert ApiKey.objects.get(pk=api.api_key.pk).last_used_at > first - timedelta(seconds=1)
    assert ApiKey.objects.get(pk=api.api_key.pk).last_used_at <= timezone.now()


def test_keys_are_logged_by_prefix_only(api, anonymous, caplog):
    caplog.set_level(logging.INFO, logger="programs.api")
    enroll(api, "c-log")
    anonymous.get("/api/v1/members", HTTP_AUTHORIZATION=f"Bearer {api.plaintext[:-1]}x")
    api_key_revoke(api_key=api.api_key)
    api.get("/api/v1/members")
    text = caplog.text
    assert api.api_key.prefix in text
    secret = api.plaintext[len(api.api_key.prefix) + 1 :]
    assert secret not in text
    assert secret[:-1] not in text


def test_only_a_hash_of_the_key_is_stored(api):
    row = ApiKey.objects.values().get(pk=api.api_key.pk)
    secret = api.plaintext[len(api.api_key.prefix) + 1 :]
    assert all(secret not in str(value) for value in row.values())
    assert len(row["secret_hash"]) == 64


def test_staff_changes_to_a_key_or_its_partner_apply_to_the_next_request(api):
    """Keys are cached for a few seconds; the admin drops the cached copy on every change."""
    assert api.get("/api/v1/members").status_code == 200  # the key is cached now
    request = RequestFactory().post("/")
    request.user = StaffFactory()
    key = ApiKey.objects.get(pk=api.api_key.pk)
    key.scopes = ["write"]
    ApiKeyAdmin(ApiKey, admin_site).save_model(request, key, form=None, change=True)
    assert api.get("/api/v1/members").status_code == 403

    partner = Partner.objects.get(pk=key.partner_id)
    partner.is_active = False
    PartnerAdmin(Partner, admin_site).save_model(request, partner, form=None, change=True)
    assert api.get("/api/v1/members").status_code == 401
