"""A voucher's QR code on a 375 px phone: it renders, the page does not scroll sideways,
and a screenshot of the page decodes (zxing-cpp) to the voucher's code."""

from datetime import timedelta
from decimal import Decimal
from io import BytesIO

import pytest
import zxingcpp
from django.utils import timezone
from PIL import Image

from customers.services import customer_create
from programs.services.ledger import Actor
from programs.services.memberships import membership_enroll
from programs.services.purchases import purchase_record
from programs.services.rewards import reward_redeem
from tests.factories import PartnerFactory, ProgramFactory, RewardFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests"


@pytest.fixture
def voucher(settings):
    settings.LANGUAGE_CODE = "de"
    program = ProgramFactory(name="Kaffeerösterei Müller", slug="kaffee", pending_days=0)
    partner = PartnerFactory(programs=[program])
    user = UserFactory(username="anna@example.com", email="anna@example.com")
    anna = customer_create(email="anna@example.com", first_name="Anna", last_name="S", user=user)
    membership, _ = membership_enroll(customer=anna, program=program)
    purchase_record(
        partner=partner,
        membership=membership,
        order_id="W-1001",
        amount=Decimal("300.00"),
        currency="EUR",
        occurred_at=timezone.now() - timedelta(days=3),
        award_now=True,
    )
    reward = RewardFactory(
        program=program, name="Cappuccino", points_cost=150, voucher_valid_days=30
    )
    return reward_redeem(membership=membership, reward=reward, actor=Actor.system())


def decoded(png: bytes) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(Image.open(BytesIO(png)))]


def test_the_voucher_qr_renders_at_375_px_and_decodes_to_the_code(page, shot, live_server, voucher):
    base = live_server.url
    page.goto(f"{base}/portal/login/")
    page.get_by_label("E-Mail-Adresse").fill("anna@example.com")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{base}/portal/")

    page.goto(f"{base}/portal/vouchers/{voucher.pk}/")
    qr = page.get_by_test_id("voucher-qr")
    qr.wait_for()
    box = qr.locator("svg").bounding_box()
    assert box is not None
    assert box["width"] >= 150, f"the QR code is too small to scan ({box['width']} px)"
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= 375
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the voucher page scrolls sideways at 375 px ({width} px)"
    assert page.get_by_test_id("voucher-status").inner_text() == "einlösbar"
    assert page.get_by_test_id("valid-until").inner_text()

    screenshot = shot("20-voucher-qr")
    assert voucher.voucher_code in decoded(screenshot.read_bytes())

    page.goto(f"{base}/portal/rewards/")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the rewards page scrolls sideways at 375 px ({width} px)"
    shot("21-rewards-vouchers")
