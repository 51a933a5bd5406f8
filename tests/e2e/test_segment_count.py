"""In a real browser: the segment page counts its members again while staff edit the
conditions (programs/static/programs/segment_count.js), says what is still wrong, saves
nothing, and runs under the Content-Security-Policy without a violation."""

import re

import pytest
from playwright.sync_api import expect

from programs.models import Segment, SegmentCondition
from programs.models import SegmentField as F
from programs.models import SegmentOperator as Op
from programs.services.memberships import membership_enroll
from tests.factories import CustomerFactory, ProgramFactory, StaffFactory, standard_tiers

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests"
WATCH = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.effectiveDirective} blocked ${event.blockedURI}`);
});
"""


@pytest.fixture
def gold_segment(settings):
    settings.LANGUAGE_CODE = "de"
    program = ProgramFactory(name="Kaffeerösterei")
    tiers = standard_tiers(program)
    for tier in ("Gold", "Bronze", "Bronze"):
        membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
        membership.tier = tiers[tier]
        membership.save()
    segment = Segment.objects.create(program=program, name="Gold")
    SegmentCondition.objects.create(
        segment=segment, field=F.TIER, operator=Op.AT_LEAST, tier=tiers["Gold"]
    )
    StaffFactory(username="chef")
    return segment


def test_the_count_follows_the_edited_conditions(page, shot, live_server, gold_segment):
    page.add_init_script(WATCH)
    base = live_server.url
    page.goto(f"{base}/admin/login/")
    page.locator("#id_username").fill("chef")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"{base}/admin/")
    page.goto(f"{base}/admin/programs/segment/{gold_segment.pk}/change/")
    count = page.locator("#segment-count-value")
    assert count.inner_text() == "1"

    page.locator("#id_conditions-0-tier").select_option(label="Bronze (Kaffeerösterei)")
    expect(count).to_have_text("3")

    page.locator("#id_conditions-1-field").select_option("points")
    page.locator("#id_conditions-1-operator").select_option("at_least")
    page.locator("#id_conditions-1-value").fill("viel")
    errors = page.locator("#segment-count-errors")
    expect(errors).to_have_text(re.compile(r"^Bedingung 2, Wert: Geben Sie eine ganze Zahl"))
    expect(count).to_have_text("\N{EN DASH}")

    page.locator("#id_conditions-1-value").fill("1")
    expect(count).to_have_text("0")
    expect(errors).to_be_hidden()
    shot("segment-count")

    assert page.evaluate("window.cspViolations") == []
    assert SegmentCondition.objects.get().tier.name == "Gold"  # nothing saved
