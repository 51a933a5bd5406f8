"""Changing the password in the profile: the current password and a new one; apart from the
forgotten-password flow, which stays a link."""

import pytest

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests"
NEW = "kaffee-und-kuchen-42"


def test_the_profile_has_the_form_and_still_links_the_reset(portal):
    html = portal.get("/portal/profile/").content.decode()
    assert 'action="/portal/profile/password/"' in html
    assert "Aktuelles Passwort" in html
    assert "Neues Passwort" in html
    assert 'autocomplete="current-password"' in html
    assert 'href="/portal/password/"' in html  # forgotten password: the e-mail flow


def test_a_new_password_is_saved_and_the_member_stays_signed_in(portal, customer):
    response = portal.post(
        "/portal/profile/password/", {"current_password": PASSWORD, "new_password": NEW}
    )
    assert response.status_code == 302
    page = portal.get(response["Location"])
    assert page.status_code == 200  # the session survived the new password hash
    assert "Ihr neues Passwort ist gespeichert." in page.content.decode()
    customer.user.refresh_from_db()
    assert customer.user.check_password(NEW)


def test_a_wrong_current_password_changes_nothing(portal, customer):
    response = portal.post(
        "/portal/profile/password/", {"current_password": "falsch-falsch", "new_password": NEW}
    )
    assert response.status_code == 400
    assert "Das ist nicht Ihr aktuelles Passwort." in response.content.decode()
    customer.user.refresh_from_db()
    assert customer.user.check_password(PASSWORD)


@pytest.mark.parametrize("weak", ["12345678", "passwort", "kurz"])
def test_a_weak_new_password_is_refused(portal, customer, weak):
    response = portal.post(
        "/portal/profile/password/", {"current_password": PASSWORD, "new_password": weak}
    )
    assert response.status_code == 400
    assert response.context["password_form"].errors["new_password"]
    customer.user.refresh_from_db()
    assert customer.user.check_password(PASSWORD)


def test_guessing_the_current_password_is_limited(portal, customer):
    for _ in range(10):
        portal.post("/portal/profile/password/", {"current_password": "x", "new_password": NEW})
    response = portal.post(
        "/portal/profile/password/", {"current_password": PASSWORD, "new_password": NEW}
    )
    assert response.status_code == 429
    customer.user.refresh_from_db()
    assert customer.user.check_password(PASSWORD)


def test_the_member_is_told_by_e_mail_with_the_way_back(
    portal, customer, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        portal.post(
            "/portal/profile/password/", {"current_password": PASSWORD, "new_password": NEW}
        )
    [mail] = mailoutbox
    assert mail.to == ["anna@example.com"]
    assert mail.subject == "Ihr Passwort wurde geändert"
    assert "/portal/password/" in mail.body  # set a new one if it was not her
    assert "List-Unsubscribe" not in mail.extra_headers  # a security notice
    assert NEW not in mail.body


def test_a_refused_change_sends_nothing(portal, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        portal.post(
            "/portal/profile/password/",
            {"current_password": "falsch-falsch", "new_password": NEW},
        )
    assert mailoutbox == []
