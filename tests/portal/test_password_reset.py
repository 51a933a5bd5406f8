"""Password reset by e-mail: the link points at SITE_URL whatever Host the request named,
and completing the reset ends a lockout after failed logins (django-axes) for that account
only."""

import re
from urllib.parse import urlsplit

import pytest
from django.core import mail

from tests.portal.conftest import PASSWORD, make_customer

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "ein-neues-langes-passwort"


def _link(message) -> str:
    return re.search(r"https?://\S+", message.body).group(0)


def _lock_out(client, login: str, failures: int) -> None:
    for _ in range(failures):
        client.post("/portal/login/", {"username": login, "password": "falsch"})


def _log_in(client, login: str, password: str):
    return client.post("/portal/login/", {"username": login, "password": password})


def _reset_by_email(client, email: str, password: str) -> None:
    """Ask for the link, open it from the e-mail, choose ``password``."""
    sent = len(mail.outbox)
    client.post("/portal/password/", {"email": email})
    assert len(mail.outbox) == sent + 1
    link = urlsplit(_link(mail.outbox[-1]))
    form = client.get(link.path, follow=True)
    assert form.context["validlink"]
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": password, "new_password2": password}
    )
    assert done["Location"] == "/portal/password/done/"


def test_resetting_the_password_ends_the_lockout(client, customer, settings):
    # Locked out under the address typed in another case, from another device.
    _lock_out(client, "Anna@Example.com", settings.AXES_FAILURE_LIMIT)
    locked = _log_in(client, customer.email, PASSWORD)
    assert locked.status_code == 429
    assert "Passwort zurücksetzen" in locked.content.decode()

    _reset_by_email(client, customer.email, NEW_PASSWORD)

    response = _log_in(client, customer.email, NEW_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/portal/"
    assert client.session["_auth_user_id"] == str(customer.user.pk)


def test_a_reset_of_another_account_leaves_the_lockout_in_place(client, customer, settings):
    bernd = make_customer("bernd@example.com", first_name="Bernd")
    _lock_out(client, customer.email, settings.AXES_FAILURE_LIMIT)

    _reset_by_email(client, bernd.email, NEW_PASSWORD)

    assert _log_in(client, customer.email, PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session
    # Bernd himself is not locked out and signs in with his new password.
    assert _log_in(client, bernd.email, NEW_PASSWORD).status_code == 302


def test_a_lockout_stays_until_the_reset_is_completed(client, customer, settings):
    _lock_out(client, customer.email, settings.AXES_FAILURE_LIMIT)
    client.post("/portal/password/", {"email": customer.email})  # asked, never opened

    assert _log_in(client, customer.email, PASSWORD).status_code == 429


def test_reset_link_is_on_site_url_whatever_host_the_request_named(client, customer, settings):
    settings.SITE_URL = "https://loyalty.example.com"
    settings.ALLOWED_HOSTS = ["evil.example", "testserver"]

    response = client.post("/portal/password/", {"email": customer.email}, HTTP_HOST="evil.example")

    assert response.status_code == 302
    body = mail.outbox[-1].body
    assert "evil.example" not in body
    link = urlsplit(_link(mail.outbox[-1]))
    assert (link.scheme, link.netloc) == ("https", "loyalty.example.com")
    assert link.path.startswith("/portal/password/")


def test_confirmation_link_is_on_site_url_whatever_host_the_request_named(
    client, program, tiers, settings, django_capture_on_commit_callbacks
):
    settings.SITE_URL = "https://loyalty.example.com"
    settings.ALLOWED_HOSTS = ["evil.example", "testserver"]
    signup = {
        "first_name": "Clara",
        "last_name": "Neu",
        "email": "clara@example.com",
        "password": "kaffee-und-kuchen-42",
        "language": "de",
        "terms": "on",
    }

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/portal/join/{program.slug}/", signup, HTTP_HOST="evil.example")

    assert "evil.example" not in mail.outbox[-1].body
    assert _link(mail.outbox[-1]).startswith("https://loyalty.example.com/portal/confirm/")
