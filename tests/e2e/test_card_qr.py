"""The member card page in a real browser at 375 px: the card's QR code and the rotating
code's QR code render, a screenshot of each decodes (zxing-cpp) to the card number and to
a code a till's proof check accepts, the page fetches the next code by itself, it does
not scroll sideways at 375 or 1280 px, and printing shows the card alone."""

import pytest
import zxingcpp
from PIL import Image

from customers.services import customer_create
from programs.errors import ProofInvalid
from programs.services.card_proofs import proof_check
from programs.services.memberships import membership_enroll
from tests.e2e.conftest import ARTIFACTS
from tests.factories import ProgramFactory, UserFactory, standard_tiers

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests"


@pytest.fixture
def anna(settings):
    settings.LANGUAGE_CODE = "de"
    program = ProgramFactory(name="Kaffeerösterei Müller", slug="kaffee", pending_days=0)
    standard_tiers(program)
    user = UserFactory(username="anna@example.com", email="anna@example.com")
    customer = customer_create(
        email="anna@example.com", first_name="Anna", last_name="S", user=user
    )
    membership, _ = membership_enroll(customer=customer, program=program)
    return membership


def decoded(locator, name: str) -> list[str]:
    """The texts of the QR codes in a screenshot of ``locator``."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    locator.screenshot(path=str(path))
    return [result.text for result in zxingcpp.read_barcodes(Image.open(path))]


def scroll_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_both_qr_codes_render_and_decode_on_a_phone(page, shot, live_server, anna):
    base = live_server.url
    refused = []  # what the Content-Security-Policy blocked (Chromium logs each)
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(f"{base}/portal/login/")
    page.get_by_label("E-Mail-Adresse").fill("anna@example.com")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{base}/portal/")
    page.get_by_role("link", name="Meine Karte").click()
    page.wait_for_url(f"{base}/portal/card/")
    page.get_by_text("Zahlen/Einlösen an der Kasse").wait_for()
    shot("card-01-page")
    assert scroll_width(page) <= 375, "the card page scrolls sideways at 375 px"

    # The card: its number in groups of four, and a QR code of the plain number.
    number = anna.card_number
    assert page.get_by_test_id("card-number").inner_text() == " ".join(
        number[i : i + 4] for i in range(0, 16, 4)
    )
    card_qr = page.get_by_test_id("card-qr").locator("svg")
    assert card_qr.bounding_box()["width"] >= 120
    assert decoded(card_qr, "card-02-card-qr") == [number]

    # The rotating code: its QR code holds the card number and the digits shown.
    code_qr = page.get_by_test_id("code-qr").locator("svg")
    assert code_qr.bounding_box()["width"] >= 200
    (code,) = decoded(code_qr, "card-03-code-qr")
    card, digits = code.split(".")
    assert card == number
    assert (
        page.get_by_test_id("code-digits").inner_text().replace("\n", "").replace(" ", "") == digits
    )
    proof_check(anna, {"code": code})  # a till would accept it (once)
    with pytest.raises(ProofInvalid):
        proof_check(anna, {"code": code})

    # The page fetches the next code when it is due (at most 30 s), and that one works too.
    page.wait_for_function(
        "old => document.querySelector('[data-code-digits]').textContent !== old",
        arg=page.get_by_test_id("code-digits").text_content(),
        timeout=40_000,
    )
    (fresh,) = decoded(code_qr, "card-04-next-code-qr")
    assert fresh != code
    proof_check(anna, {"code": fresh})
    assert int(page.locator("[data-code-left]").inner_text()) > 30

    # Wide screen: still no sideways scroll; printed: the card alone.
    page.set_viewport_size({"width": 1280, "height": 900})
    assert scroll_width(page) <= 1280
    shot("card-05-page-1280")
    page.emulate_media(media="print")
    assert page.get_by_test_id("member-card").is_visible()
    assert not page.get_by_test_id("code-qr").is_visible()
    assert not page.get_by_role("navigation").is_visible()
    shot("card-06-print")
    assert refused == []
