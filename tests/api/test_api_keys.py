"""Creating, revoking and listing API keys: the service, the command and the admin."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from programs.models import ApiKey
from programs.services.api_keys import (
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    scopes_clean,
)
from tests.factories import StaffFactory

KEY_RE = re.compile(r"^lk_live_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$")


def test_create_returns_the_plaintext_once_and_stores_a_hash(partner):
    key, plaintext = api_key_create(partner=partner, name="shop", scopes=["write", "read"])
    assert KEY_RE.match(plaintext)
    assert plaintext.startswith(key.prefix + "_")
    assert key.scopes == ["read", "write"]
    assert key.secret_hash != plaintext
    assert plaintext not in key.secret_hash
    assert api_key_authenticate(plaintext) == key
    assert api_key_authenticate(plaintext + "x") is None


def test_revoke_is_immediate_and_once(partner):
    key, plaintext = api_key_create(partner=partner, name="shop", scopes=["read"])
    assert api_key_revoke(api_key=key) is True
    assert api_key_revoke(api_key=key) is False
    assert api_key_authenticate(plaintext) is None


@pytest.mark.parametrize("scopes", [[], ["admin"], ["read", "everything"]])
def test_scopes_must_be_known_and_not_empty(scopes):
    with pytest.raises(ValueError, match="scope"):
        scopes_clean(scopes)


def test_command_prints_only_the_key(partner):
    out, err = StringIO(), StringIO()
    call_command(
        "create_api_key", "--partner", "webshop", "--scopes", "read,write", stdout=out, stderr=err
    )
    plaintext = out.getvalue().strip()
    assert KEY_RE.match(plaintext)
    key = api_key_authenticate(plaintext)
    assert key.partner == partner
    assert key.scopes == ["read", "write"]
    assert key.prefix in err.getvalue()


def test_command_defaults_to_all_scopes(partner):
    out = StringIO()
    call_command("create_api_key", "--partner", "webshop", stdout=out, stderr=StringIO())
    assert api_key_authenticate(out.getvalue().strip()).scopes == ["read", "write", "redeem"]


def test_command_refuses_unknown_partner_and_scope(partner):
    with pytest.raises(CommandError, match=r"No partner with slug 'nope'.*webshop"):
        call_command("create_api_key", "--partner", "nope", stderr=StringIO())
    with pytest.raises(CommandError, match="Unknown scope"):
        call_command("create_api_key", "--partner", "webshop", "--scopes", "read,root")
    assert not ApiKey.objects.exists()


@override_settings(ROOT_URLCONF="tests.api.admin_urls")
def test_admin_creates_a_key_and_shows_it_once(client, partner):
    staff = StaffFactory()
    client.force_login(staff)
    response = client.post(
        "/admin/programs/apikey/add/",
        {"partner": partner.pk, "name": "till 3", "scopes": ["read", "write"]},
        follow=True,
    )
    assert response.redirect_chain, response.content[:2000]
    key = ApiKey.objects.get()
    assert key.created_by == staff
    assert key.scopes == ["read", "write"]
    plaintext = re.search(r"lk_live_[a-z0-9]{8}_[A-Za-z0-9_-]{43}", response.content.decode())[0]
    assert api_key_authenticate(plaintext) == key
    # Shown once: the next pages show the prefix only.
    page = client.get(f"/admin/programs/apikey/{key.pk}/change/").content.decode()
    assert key.prefix in page
    assert plaintext not in page
    assert plaintext not in client.get("/admin/programs/apikey/").content.decode()


@override_settings(ROOT_URLCONF="tests.api.admin_urls")
def test_admin_revokes_keys(client, partner):
    client.force_login(StaffFactory())
    key, plaintext = api_key_create(partner=partner, name="old", scopes=["read"])
    response = client.post(
        "/admin/programs/apikey/", {"action": "revoke", "_selected_action": [key.pk]}
    )
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_authenticate(plaintext) is None
    assert client.get(f"/admin/programs/apikey/{key.pk}/delete/").status_code == 403
