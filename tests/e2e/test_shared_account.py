"""A shared account in a real browser at 375 px: the owner invites a buyer from the
account page, the invitation e-mail brings the buyer (signed in with the invited address)
to the portal, they read what joining means and confirm; purchases by both then show in
the account's pooled balance and tier progress. Every page is saved to e2e-artifacts/.

The steps find the new controls by their form fields rather than their wording, so the
test holds before and after the German translations are written."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.test import Client
from django.utils import timezone

from customers.services import customer_create
from programs.models import AccountInvitation, AccountKind, AccountMember, Purchase
from programs.services.accounts import account_create
from programs.services.memberships import membership_enroll
from programs.services.purchases import purchase_record
from tests.e2e.accessibility import ARTIFACTS, page_problems
from tests.factories import PartnerFactory, ProgramFactory, UserFactory, standard_tiers

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests"  # UserFactory's


@pytest.fixture
def shop(settings):
    settings.LANGUAGE_CODE = "de"
    program = ProgramFactory(name="Großhandel Kaiser", slug="kaiser", pending_days=0)
    standard_tiers(program)
    partner = PartnerFactory(programs=[program])
    anna_user = UserFactory(username="anna@example.com", email="anna@example.com")
    anna = customer_create(
        email="anna@example.com", first_name="Anna", last_name="Müller", user=anna_user
    )
    owner = membership_enroll(customer=anna, program=program)[0]
    account = account_create(
        program=program, kind=AccountKind.BUSINESS, name="Müller GmbH", manager=owner
    )
    bernd_user = UserFactory(username="bernd@example.com", email="bernd@example.com")
    customer_create(
        email="bernd@example.com", first_name="Bernd", last_name="Kurz", user=bernd_user
    )
    return {"program": program, "partner": partner, "owner": owner, "account": account}


def _session_context(browser, user, base):
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="de-DE")
    context.set_default_timeout(15_000)
    name = django_settings.SESSION_COOKIE_NAME
    context.add_cookies([{"name": name, "value": client.cookies[name].value, "url": base}])
    return context


def _buy(shop, membership, order_id: str, amount: str) -> Purchase:
    purchase, _ = purchase_record(
        partner=shop["partner"],
        membership=membership,
        order_id=order_id,
        amount=Decimal(amount),
        currency="EUR",
        occurred_at=timezone.now() - timedelta(minutes=5),
        award_now=True,
    )
    purchase.refresh_from_db()
    return purchase


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _figure(page, testid: str) -> int:
    return int(page.get_by_test_id(testid).inner_text().replace(".", "").strip())


def test_owner_invites_buyer_who_confirms_and_both_earn_into_the_account(
    browser, live_server, shop
):
    base = live_server.url
    account, owner = shop["account"], shop["owner"]

    # The owner invites Bernd as a buyer from the account page.
    anna = _session_context(browser, owner.customer.user, base)
    page = anna.new_page()
    page.goto(f"{base}/portal/shared-account/")
    assert page.get_by_test_id("account-name").inner_text() == "Müller GmbH"
    assert _figure(page, "account-available") == 0
    invite = page.locator("form:has(input[name=action][value=invite])")
    invite.locator("input[name=email]").fill("bernd@example.com")
    invite.locator("select[name=role]").select_option("buyer")
    _shot(page, "shared-01-owner-invites")
    invite.locator("button[type=submit]").click()
    page.get_by_test_id("sent-invitation").wait_for()
    assert "bernd@example.com" in page.get_by_test_id("sent-invitation").inner_text()
    _shot(page, "shared-02-invitation-sent")
    # Checked once the success message is gone: base.html's message list (role=status on
    # the <ul>) is an axe finding of its own, on every page that shows a message.
    page.reload()
    assert not page_problems(page)

    # The e-mail went out (the task runs on commit) and links the account page.
    invitation = AccountInvitation.objects.get(account=account)
    [message] = [m for m in mail.outbox if m.to == ["bernd@example.com"]]
    assert "Müller GmbH" in message.subject
    link = re.search(r"https?://\S+/portal/shared-account/\S*", message.body).group(0)

    # Bernd follows the link, signs in with the invited address, reads the rule, joins.
    bernd = browser.new_context(viewport={"width": 375, "height": 812}, locale="de-DE")
    bernd.set_default_timeout(15_000)
    buyer = bernd.new_page()
    buyer.goto(link)
    buyer.get_by_label("E-Mail-Adresse").fill("bernd@example.com")
    buyer.get_by_label("Passwort").fill(PASSWORD)
    buyer.locator("form button[type=submit]").last.click()
    buyer.get_by_test_id("account-invitation").wait_for()
    _shot(buyer, "shared-03-buyer-sees-invitation")
    buyer.locator(f"a[href$='/shared-account/invitations/{invitation.pk}/']").first.click()
    buyer.get_by_test_id("join-rule").wait_for()
    assert not page_problems(buyer)  # no message on this page
    _shot(buyer, "shared-04-join-rule")
    buyer.locator("form:has(input[name=action][value=accept]) button").click()
    buyer.get_by_test_id("account-name").wait_for()
    member = AccountMember.objects.get(account=account, membership__customer__first_name="Bernd")
    assert member.role == "buyer"
    _shot(buyer, "shared-05-buyer-joined")

    # Both buy: the purchases are recorded on the account, each with its buyer.
    mine = _buy(shop, owner, "K-1", "300.00")
    his = _buy(shop, member.membership, "K-2", "400.00")
    assert (mine.membership_id, his.membership_id) == (account.holder_id, account.holder_id)
    assert (mine.placed_by_id, his.placed_by_id) == (owner.pk, member.membership_id)
    earned = mine.points_awarded + his.points_awarded

    # The owner's page: the pooled balance and tier progress count both.
    page.goto(f"{base}/portal/shared-account/")
    assert _figure(page, "account-available") == earned
    holder = account.holder
    holder.refresh_from_db()
    assert page.get_by_test_id("account-tier").inner_text() == holder.tier.name
    progress = int(page.get_by_test_id("account-progress").get_attribute("aria-valuenow"))
    assert progress == int(Decimal(700) / Decimal(1500) * 100)  # 700 EUR toward Gold
    people = page.get_by_test_id("member-activity").all_inner_texts()
    assert any("Anna" in p and "300,00" in p for p in people)
    assert any("Bernd" in p and "400,00" in p for p in people)
    assert not page_problems(page)
    _shot(page, "shared-06-owner-sees-pool")

    # Bernd sees the same balance.
    buyer.reload()
    assert _figure(buyer, "account-available") == earned
    _shot(buyer, "shared-07-buyer-sees-pool")
    anna.close()
    bernd.close()
