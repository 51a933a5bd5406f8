"""The portal in a real browser at 375 px: sign up through a friend's link, confirm the
address, log in, see balance and tier progress, redeem a reward and cancel its voucher
(confirmation page, e-mail), follow the friend's referral, change the password, switch the
language, and answer an NPS survey from its link. Every page is saved to e2e-artifacts/."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from customers.services import customer_create
from loyalty_site.portal.models import EmailConfirmation
from programs.models import Redemption, Referral
from programs.services.memberships import membership_enroll
from programs.services.purchases import purchase_record
from tests.factories import (
    PartnerFactory,
    ProgramFactory,
    RewardFactory,
    UserFactory,
    standard_tiers,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests"


@pytest.fixture
def coffee(settings):
    settings.LANGUAGE_CODE = "de"
    program = ProgramFactory(name="Kaffeerösterei Müller", slug="kaffee", pending_days=0)
    tiers = standard_tiers(program)
    partner = PartnerFactory(programs=[program])
    user = UserFactory(username="anna@example.com", email="anna@example.com")
    anna = customer_create(email="anna@example.com", first_name="Anna", last_name="S", user=user)
    membership, _ = membership_enroll(customer=anna, program=program)
    purchase_record(
        partner=partner,
        membership=membership,
        order_id="W-1001",
        amount=Decimal("1380.00"),
        currency="EUR",
        occurred_at=timezone.now() - timedelta(days=3),
        award_now=True,
    )
    RewardFactory(program=program, name="Cappuccino", points_cost=150)
    RewardFactory(program=program, name="Röstereiführung", points_cost=900, min_tier=tiers["Gold"])
    return program, membership


def test_referral_signup_login_balance_redeem_and_language(page, shot, live_server, coffee):
    _program, anna = coffee
    base = live_server.url

    # A friend opens Anna's link and signs up.
    page.goto(f"{base}/r/{anna.referral_code}/")
    assert page.locator("html").get_attribute("lang") == "de"
    page.get_by_text("Anna hat Sie eingeladen").wait_for()
    shot("01-signup-referral")
    page.get_by_label("Vorname").fill("Clara")
    page.get_by_label("Nachname").fill("Neu")
    page.get_by_label("E-Mail-Adresse").fill("clara@example.com")
    page.get_by_label("Passwort").fill("kaffee-und-kuchen-42")
    page.get_by_label("Ich bin einverstanden").check()
    page.get_by_role("button", name="Konto anlegen").click()
    page.get_by_text("Bitte bestätigen Sie Ihre E-Mail-Adresse mit dem Link").wait_for()
    shot("02-dashboard-new-member")
    referral = Referral.objects.get(referrer=anna)
    assert referral.referee.customer.email == "clara@example.com"

    # The confirmation link from the e-mail.
    link = re.search(r"https?://\S+", mail.outbox[-1].body).group(0)
    page.goto(link)
    page.get_by_text("Ihre E-Mail-Adresse ist bestätigt").wait_for()
    assert EmailConfirmation.objects.get(email="clara@example.com").confirmed_at is not None
    page.get_by_role("button", name="Abmelden").click()

    # Anna logs in with her e-mail address and sees balance and tier progress.
    page.goto(f"{base}/portal/login/")
    shot("03-login")
    page.get_by_label("E-Mail-Adresse").fill("ANNA@example.com")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{base}/portal/")
    assert page.get_by_test_id("available").inner_text() == "1.380"
    assert page.get_by_test_id("tier").inner_text() == "Silber"
    assert page.get_by_test_id("tier-gap").inner_text() == "Noch 120,00\u00a0EUR Umsatz bis Gold"
    assert page.get_by_role("progressbar").get_attribute("aria-valuenow") == "92"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the dashboard scrolls sideways at 375 px ({width} px)"
    shot("04-dashboard")

    # Redeem a reward through the confirmation step.
    page.get_by_role("link", name="Prämien", exact=True).click()
    shot("05-rewards")
    page.get_by_role("link", name=re.compile(r"Einlösen.*Cappuccino")).click()
    page.get_by_text("Diese Prämie einlösen?").wait_for()
    shot("06-redeem-confirm")
    page.get_by_role("button", name="Ja, jetzt einlösen").click()
    redemption = Redemption.objects.get(membership=anna)
    assert page.get_by_test_id("voucher").inner_text() == redemption.voucher_code
    shot("07-voucher")

    # Cancelling the voucher asks first, then confirms by e-mail.
    page.get_by_role("link", name="Gutschein stornieren und Punkte zurückerhalten").click()
    page.get_by_role("heading", name="Diesen Gutschein stornieren?").wait_for()
    shot("07b-voucher-cancel-confirm")
    redemption.refresh_from_db()
    assert redemption.status == "issued"  # the link alone cancels nothing
    page.get_by_role("button", name="Ja, Gutschein stornieren").click()
    page.get_by_text("ist storniert").wait_for()
    redemption.refresh_from_db()
    assert redemption.status == "cancelled"
    assert mail.outbox[-1].subject == "Ihr Gutschein für Cappuccino ist storniert"
    assert mail.outbox[-1].to == ["anna@example.com"]

    for path, name in [
        ("/portal/history/", "08-history"),
        ("/portal/referrals/", "09-referrals"),
        ("/portal/notifications/", "10-notifications"),
        ("/portal/profile/", "11-profile"),
    ]:
        page.goto(f"{base}{path}")
        shot(name)
    page.goto(f"{base}/portal/referrals/")
    friend = page.get_by_test_id("friend").filter(has_text="Clara N.")
    friend.get_by_text("Über Ihre Einladung angemeldet").wait_for()
    assert "Erster Einkauf ab 20,00\u00a0EUR" in friend.inner_text()

    # A new password from the profile, then signing in with it.
    page.get_by_role("link", name="Profil").click()
    page.get_by_label("Aktuelles Passwort").fill(PASSWORD)
    page.get_by_label("Neues Passwort").fill("neues-passwort-fuer-anna")
    page.get_by_role("button", name="Neues Passwort speichern").click()
    page.get_by_text("Ihr neues Passwort ist gespeichert.").wait_for()
    page.get_by_role("button", name="Abmelden").click()
    page.goto(f"{base}/portal/login/")
    page.get_by_label("E-Mail-Adresse").fill("anna@example.com")
    page.get_by_label("Passwort").fill("neues-passwort-fuer-anna")
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{base}/portal/")

    # Switch to English from the header.
    page.goto(f"{base}/portal/")
    page.get_by_label("Sprache").select_option("en")
    page.wait_for_url(f"{base}/en/portal/")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_test_id("available").inner_text() == "1,380"  # the voucher cancelled
    assert page.get_by_test_id("tier-gap").inner_text() == "120.00\u00a0EUR more to reach Gold"
    shot("12-dashboard-english")


def test_nps_survey_answered_from_its_link(page, shot, live_server, coffee):
    from programs.models import ActionRule
    from surveys.models import Channel, Invitation, SurveyKind
    from surveys.services.invitations import invitation_create
    from surveys.services.surveys import survey_create
    from surveys.tokens import invitation_path

    program, anna = coffee
    rule = ActionRule.objects.create(
        program=program, code="survey_answered", name="Umfrage beantwortet", points=50
    )
    survey = survey_create(program=program, kind=SurveyKind.NPS, name="NPS", action_rule=rule)
    invitation = invitation_create(survey=survey, membership=anna, channel=Channel.STAFF)
    page.goto(f"{live_server.url}{invitation_path(invitation)}")
    assert page.locator("html").get_attribute("lang") == "de"
    shot("13-survey-nps")
    nine = page.locator("input[type=radio][value='9']").first.get_attribute("id")
    page.locator(f"label[for='{nine}']").click()  # the buttons are the labels
    page.locator("textarea").first.fill("Sehr guter Kaffee.")
    page.get_by_role("button", name=re.compile("Senden|Absenden")).click()
    page.wait_for_url(re.compile(r"/danke/$"))
    shot("14-survey-thanks")
    invitation.refresh_from_db()
    assert Invitation.objects.get(pk=invitation.pk).answered_at is not None
