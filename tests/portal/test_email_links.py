"""Every e-mail to a customer links to the portal (and to the voucher where there is one);
the e-mails a customer may switch off carry a one-click unsubscribe (RFC 8058 headers and
a visible link) that works by POST without a login and never by GET."""

import re
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from customers.preferences import customer_preferences, customer_preferences_update
from loyalty_site.core.email_links import UNSUBSCRIBE_LINK_DAYS, unsubscribe_token
from programs.notifications.emails import notification_email_send
from programs.notifications.models import EmailState, Notification, NotificationKind
from programs.notifications.services import notification_create
from programs.services.ledger import Actor
from programs.services.rewards import reward_redeem
from surveys.models import Channel, SurveyKind
from surveys.services.invitation_emails import invitation_send
from surveys.services.invitations import invitation_create
from surveys.services.surveys import survey_create
from tests.portal.conftest import make_customer

pytestmark = pytest.mark.django_db

SITE = "https://treue.example.com"


@pytest.fixture(autouse=True)
def _site_url(settings):
    settings.SITE_URL = SITE


@pytest.fixture
def program(program):
    program.pending_days = 0  # points usable at once, so the member can redeem
    program.save()
    return program


def sent_for(notification) -> mail.EmailMessage:
    mail.outbox.clear()
    assert notification_email_send(notification.pk).state == EmailState.SENT
    (message,) = mail.outbox
    return message


def html_of(message) -> str:
    return message.alternatives[0][0]


def unsubscribe_path(message) -> str:
    header = message.extra_headers["List-Unsubscribe"]
    match = re.fullmatch(rf"<{re.escape(SITE)}(/\S+/)>", header)
    assert match, header
    return match.group(1)


def upgrade(customer, membership=None, key="tier-change:1"):
    return notification_create(
        customer=customer,
        membership=membership,
        kind=NotificationKind.TIER_UPGRADE,
        cause_key=key,
        params={"program": "Kaffeerösterei", "tier": "Gold", "from_tier": "Silber"},
    )


# --- what the e-mails carry --------------------------------------------------------------


def test_tier_e_mail_has_portal_link_and_one_click_unsubscribe(customer, membership, buy):
    buy(membership, "600.00")  # Bronze -> Silber
    note = Notification.objects.get(customer=customer, kind=NotificationKind.TIER_UPGRADE)

    message = sent_for(note)

    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = unsubscribe_path(message)
    assert path.startswith("/portal/unsubscribe/")
    portal = f"{SITE}/portal/?program=kaffee"
    assert portal in message.body
    assert f"{SITE}{path}" in message.body  # the visible link, as in the header
    assert "Diese E-Mails mit einem Klick abbestellen" in message.body
    html = html_of(message)
    assert f'href="{portal}"' in html
    assert f'href="{SITE}{path}"' in html
    assert ">Diese E-Mails abbestellen</a>" in html


def test_voucher_e_mail_links_to_the_vouchers_page(customer, membership, buy, reward):
    buy(membership, "200.00")
    redemption = reward_redeem(membership=membership, reward=reward, actor=Actor.system())
    note = Notification.objects.get(customer=customer, kind=NotificationKind.REWARD_REDEEMED)

    message = sent_for(note)

    voucher = f"{SITE}/portal/vouchers/{redemption.pk}/"
    assert f"Ihr Gutschein: {voucher}" in message.body
    assert f'href="{voucher}"' in html_of(message)
    assert "List-Unsubscribe" in message.extra_headers


def test_english_customer_gets_english_links(db):
    customer = make_customer("emma@example.com", first_name="Emma", language="en")

    message = sent_for(upgrade(customer))

    assert unsubscribe_path(message).startswith("/en/portal/unsubscribe/")
    assert f"{SITE}/en/portal/" in message.body
    assert "Unsubscribe from these e-mails with one click" in message.body


def test_notice_before_deletion_has_the_portal_link_but_no_unsubscribe(customer):
    note = notification_create(
        customer=customer,
        kind=NotificationKind.RETENTION_NOTICE,
        cause_key="retention:1",
        params={"points": 120, "delete_on": "2027-01-31"},
    )

    message = sent_for(note)

    assert "List-Unsubscribe" not in message.extra_headers
    assert "List-Unsubscribe-Post" not in message.extra_headers
    assert f"{SITE}/portal/" in message.body
    assert "/unsubscribe/" not in message.body
    assert "/unsubscribe/" not in html_of(message)


def test_survey_invitation_links_to_the_portal(membership, program):
    survey = survey_create(program=program, kind=SurveyKind.NPS, name="NPS")
    invitation = invitation_create(survey=survey, membership=membership, channel=Channel.STAFF)

    assert invitation_send(invitation_id=invitation.pk)

    (message,) = mail.outbox
    assert f"{SITE}/portal/?program=kaffee" in message.body
    assert f"{SITE}/umfrage/" in message.body  # the answer link stays


def test_confirmation_and_password_reset_link_to_the_portal_without_unsubscribe(
    client, program, tiers, customer, django_capture_on_commit_callbacks
):
    signup = {
        "first_name": "Clara",
        "last_name": "Neu",
        "email": "clara@example.com",
        "password": "kaffee-und-kuchen-42",
        "language": "de",
        "terms": "on",
    }
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/portal/join/{program.slug}/", signup)
    client.post("/portal/password/", {"email": customer.email})

    confirmation, reset = mail.outbox
    for message in (confirmation, reset):
        assert f"Ihr Kundenportal: {SITE}/portal/" in message.body
        assert "List-Unsubscribe" not in message.extra_headers
        assert "unsubscribe" not in message.body


# --- the unsubscribe endpoint ------------------------------------------------------------


def test_get_shows_a_button_and_unsubscribes_nobody(client, customer):
    path = unsubscribe_path(sent_for(upgrade(customer)))

    page = client.get(path)

    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="unsubscribe-button"' in html
    assert "Stufenauf- und -abstiege" in html
    assert customer_preferences(customer)["email_tier_changes"] is True


def test_one_click_post_unsubscribes_without_login_or_csrf_and_twice_is_fine(client, customer):
    path = unsubscribe_path(sent_for(upgrade(customer)))
    client.handler.enforce_csrf_checks = True  # as a mail provider posts: no cookie, no token

    first = client.post(path, "List-Unsubscribe=One-Click", content_type="text/plain")
    again = client.post(path, "List-Unsubscribe=One-Click", content_type="text/plain")

    assert first.status_code == again.status_code == 200
    assert 'data-testid="unsubscribed"' in again.content.decode()
    switches = customer_preferences(customer)
    assert switches["email_tier_changes"] is False
    assert switches["email_rewards"] is True  # only that kind of e-mail
    # the next tier e-mail is not sent; the portal feed still has it
    later = upgrade(customer, key="tier-change:2")
    assert later.email_state == EmailState.SKIPPED


def test_marketing_e_mail_unsubscribes_from_marketing(client, customer):
    customer_preferences_update(customer, email_marketing=True)
    note = notification_create(
        customer=customer,
        kind=NotificationKind.SEGMENT_MESSAGE,
        cause_key="segment-message:1",
        params={"title": "Neue Bohnen", "body": "Frisch geröstet."},
    )

    client.post(unsubscribe_path(sent_for(note)))

    assert customer_preferences(customer)["email_marketing"] is False


def test_forged_link_is_a_clear_400(client, customer):
    token = unsubscribe_token(customer_id=customer.pk, topic="email_marketing")
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")

    for response in (
        client.get(f"/portal/unsubscribe/{forged}/"),
        client.post(f"/portal/unsubscribe/{forged}/"),
    ):
        assert response.status_code == 400
        assert 'data-testid="unsubscribe-invalid"' in response.content.decode()
        assert "Link ungültig" in response.content.decode()
    customer_preferences_update(customer, email_marketing=True)
    client.post(f"/portal/unsubscribe/{forged}/")
    assert customer_preferences(customer)["email_marketing"] is True


def test_a_signed_link_for_an_unknown_switch_or_customer_is_400(client, customer):
    for token in (
        unsubscribe_token(customer_id=customer.pk, topic="is_staff"),
        unsubscribe_token(customer_id=customer.pk + 1000, topic="email_rewards"),
    ):
        assert client.post(f"/portal/unsubscribe/{token}/").status_code == 400


def test_expired_link_is_a_clear_400_and_changes_nothing(client, customer):
    long_ago = time.time() - timedelta(days=UNSUBSCRIBE_LINK_DAYS + 1).total_seconds()
    with mock.patch("time.time", return_value=long_ago):  # the e-mail was sent long ago
        token = unsubscribe_token(customer_id=customer.pk, topic="email_rewards")
    response = client.post(f"/portal/unsubscribe/{token}/")

    assert response.status_code == 400
    assert 'data-testid="unsubscribe-expired"' in response.content.decode()
    assert customer_preferences(customer)["email_rewards"] is True


def test_a_fresh_link_is_valid_for_a_year(client, customer):
    token = unsubscribe_token(customer_id=customer.pk, topic="email_rewards")
    later = timezone.now() + timedelta(days=UNSUBSCRIBE_LINK_DAYS - 1)
    with mock.patch("time.time", return_value=later.timestamp()):
        response = client.post(f"/portal/unsubscribe/{token}/")
    assert response.status_code == 200
    assert customer_preferences(customer)["email_rewards"] is False
