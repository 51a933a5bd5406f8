"""Cancelling a voucher: a confirmation page first (a plain page, no JavaScript needed),
then the points come back and the member gets an e-mail in her language."""

import pytest
from django.core import mail
from django.utils import timezone

from customers.preferences import customer_preferences_update
from programs.models import RedemptionStatus
from programs.services.due import points_release_due
from programs.services.ledger import Actor
from programs.services.rewards import reward_redeem

pytestmark = pytest.mark.django_db


@pytest.fixture
def voucher(membership, buy, reward, settings):
    settings.SITE_URL = "https://loyalty.example.com"
    buy(membership, "300.00", days_ago=20)
    points_release_due(timezone.now())
    membership.refresh_from_db()
    return reward_redeem(membership=membership, reward=reward, actor=Actor.system())


def test_the_voucher_page_links_to_a_confirmation_that_cancels_nothing(portal, voucher):
    html = portal.get(f"/portal/vouchers/{voucher.pk}/").content.decode()
    assert f'href="/portal/vouchers/{voucher.pk}/cancel/"' in html
    assert f'action="/portal/vouchers/{voucher.pk}/cancel/"' not in html  # no one-tap form
    page = portal.get(f"/portal/vouchers/{voucher.pk}/cancel/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Diesen Gutschein stornieren?" in text
    assert "Ja, Gutschein stornieren" in text
    assert "Nein, behalten" in text
    assert "Wir bestätigen die Stornierung per E-Mail." in text
    voucher.refresh_from_db()
    assert voucher.status == RedemptionStatus.ISSUED


def test_confirming_cancels_and_emails_the_member(
    portal, voucher, membership, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = portal.post(f"/portal/vouchers/{voucher.pk}/cancel/", follow=True)
    assert "ist storniert" in response.content.decode()
    voucher.refresh_from_db()
    assert voucher.status == RedemptionStatus.CANCELLED
    membership.refresh_from_db()
    assert membership.balance == 300
    [email] = mail.outbox
    assert email.to == ["anna@example.com"]
    assert email.subject == "Ihr Gutschein für Cappuccino ist storniert"
    assert f"(Code {voucher.voucher_code}) wurde am" in email.body
    assert "Die 150 Punkte sind wieder auf Ihrem Konto bei Kaffeerösterei." in email.body
    assert f"https://loyalty.example.com/portal/vouchers/{voucher.pk}/" in email.body
    assert "https://loyalty.example.com/portal/profile/#h-password" in email.body
    assert email.extra_headers["List-Unsubscribe"].startswith(
        "<https://loyalty.example.com/portal/unsubscribe/"
    )
    assert email.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_the_email_is_in_the_members_language(
    portal, voucher, customer, django_capture_on_commit_callbacks
):
    customer.language = "en"
    customer.save(update_fields=["language"])
    with django_capture_on_commit_callbacks(execute=True):
        portal.post(f"/portal/vouchers/{voucher.pk}/cancel/")
    [email] = mail.outbox
    assert email.subject == "Your voucher for Cappuccino is cancelled"
    assert "https://loyalty.example.com/en/portal/vouchers/" in email.body


def test_no_email_when_reward_emails_are_switched_off(
    portal, voucher, customer, django_capture_on_commit_callbacks
):
    customer_preferences_update(customer, email_rewards=False)
    page = portal.get(f"/portal/vouchers/{voucher.pk}/cancel/").content.decode()
    assert "per E-Mail" not in page  # the page does not promise one
    with django_capture_on_commit_callbacks(execute=True):
        portal.post(f"/portal/vouchers/{voucher.pk}/cancel/")
    voucher.refresh_from_db()
    assert voucher.status == RedemptionStatus.CANCELLED
    assert mail.outbox == []


def test_a_refused_cancellation_sends_nothing(portal, voucher, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        portal.post(f"/portal/vouchers/{voucher.pk}/cancel/")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        again = portal.post(f"/portal/vouchers/{voucher.pk}/cancel/", follow=True)
    assert "Nur ein unbenutzter Gutschein" in again.content.decode()
    assert mail.outbox == []
    # and the confirmation page of a voucher that cannot be cancelled leads back to it
    response = portal.get(f"/portal/vouchers/{voucher.pk}/cancel/")
    assert response.status_code == 302
    assert response["Location"] == f"/portal/vouchers/{voucher.pk}/"
