"""In a real browser, under the Content-Security-Policy: the portal dashboard, the staff
metrics dashboard and the API docs render completely, and the browser reports no violation
(Chromium logs each as a console error and fires a ``securitypolicyviolation`` event)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from customers.services import customer_create
from programs.services.memberships import membership_enroll
from programs.services.purchases import purchase_record
from surveys.models import Channel, SurveyKind
from surveys.services.invitations import invitation_create
from surveys.services.responses import response_submit
from surveys.services.snapshots import snapshots_build
from surveys.services.surveys import survey_create
from tests.factories import (
    PartnerFactory,
    ProgramFactory,
    StaffFactory,
    UserFactory,
    standard_tiers,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests"
WATCH = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline code"} ` +
    `(${event.sourceFile}:${event.lineNumber})`
  );
});
"""


@pytest.fixture
def violations(page):
    """violations(): what the browser refused on the current page, from both reports."""
    console: list[str] = []

    def on_console(message):
        if message.type == "error" and "Content Security Policy" in message.text:
            console.append(message.text)

    page.on("console", on_console)
    page.add_init_script(WATCH)

    def _violations() -> list[str]:
        reported = page.evaluate("window.cspViolations || []")
        found = reported + console[:]
        console.clear()
        return found

    return _violations


@pytest.fixture
def shop(settings):
    settings.LANGUAGE_CODE = "de"
    program = ProgramFactory(name="Kaffeerösterei Müller", slug="kaffee", pending_days=0)
    standard_tiers(program)
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
    survey = survey_create(program=program, kind=SurveyKind.NPS, name="NPS")
    invitation = invitation_create(survey=survey, membership=membership, channel=Channel.STAFF)
    response_submit(invitation_id=invitation.pk, answers={"recommend": 9})
    snapshots_build(months=None)
    StaffFactory(username="chef")
    return membership


def test_portal_dashboard_renders_without_a_violation(page, shot, live_server, shop, violations):
    base = live_server.url
    page.goto(f"{base}/portal/login/")
    assert violations() == []
    page.get_by_label("E-Mail-Adresse").fill("anna@example.com")
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.wait_for_url(f"{base}/portal/")
    page.wait_for_load_state("networkidle")

    assert page.get_by_test_id("available").inner_text() == "1.380"
    # The tier progress bar is drawn (an SVG bar, no style attribute) ...
    bar = page.get_by_role("progressbar").locator("rect").bounding_box()
    assert bar is not None
    assert bar["width"] > 0
    # ... and the stylesheets apply.
    accent = page.eval_on_selector(".progress rect", "e => getComputedStyle(e).fill")
    assert accent not in {"", "none", "rgb(0, 0, 0)"}
    shot("csp-01-portal-dashboard")
    assert violations() == []

    # The language switch submits itself through the static script, not an inline handler.
    page.get_by_label("Sprache").select_option("en")
    page.wait_for_url(f"{base}/en/portal/")
    page.wait_for_load_state("networkidle")
    assert violations() == []


def test_staff_metrics_dashboard_renders_without_a_violation(
    page, shot, live_server, shop, violations
):
    base = live_server.url
    page.goto(f"{base}/admin/login/")
    page.locator("#id_username").fill("chef")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"{base}/admin/")
    page.wait_for_load_state("networkidle")
    assert violations() == []

    page.goto(f"{base}/admin/surveys/metricsdashboard/?months=36")
    page.wait_for_load_state("networkidle")
    charts = page.locator("svg.chart")
    assert charts.count() == 7  # with retention per period (issue 17)
    assert charts.first.bounding_box()["height"] > 0
    # The dashboard's own stylesheet (no inline <style>) lays it out and colours the legend.
    assert page.eval_on_selector(".kpis", "e => getComputedStyle(e).display") == "grid"
    swatch = page.eval_on_selector(
        ".legend .c-promoters", "e => getComputedStyle(e).backgroundColor"
    )
    assert swatch == "rgb(46, 125, 50)"
    shot("csp-02-metrics-dashboard")
    assert violations() == []


def test_api_docs_render_without_a_violation(page, shot, live_server, violations):
    page.goto(f"{live_server.url}/api/docs/")
    # Swagger UI ran its start-up script and drew the operations from the schema.
    page.locator(".swagger-ui .opblock").first.wait_for()
    page.wait_for_load_state("networkidle")
    assert page.locator(".swagger-ui .opblock").count() > 5
    shot("csp-03-api-docs")
    assert violations() == []
