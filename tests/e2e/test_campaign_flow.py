"""In a real browser at desktop width: staff build a segment and see its count, draft a
campaign for it, run the what-if from the unsaved form, then switch the campaign on and
save it (its audience is then fixed), without a Content-Security-Policy violation."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from programs.models import Campaign, CampaignMember, Segment
from programs.services.memberships import membership_enroll
from programs.services.purchases import LineData, purchase_record
from tests.e2e.test_segment_count import PASSWORD, WATCH
from tests.factories import (
    CustomerFactory,
    PartnerFactory,
    ProgramFactory,
    StaffFactory,
    standard_tiers,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def program(settings):
    settings.LANGUAGE_CODE = "de"
    program = ProgramFactory(name="Kaffeerösterei")
    tiers = standard_tiers(program)
    shop = PartnerFactory(programs=[program])
    for n, tier in enumerate(("Gold", "Gold", "Bronze")):
        membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
        membership.tier = tiers[tier]
        membership.save()
        purchase_record(
            partner=shop,
            membership=membership,
            order_id=f"E{n}",
            amount=Decimal("30.00"),
            currency="EUR",
            occurred_at=timezone.now() - timedelta(days=10),
            lines=[LineData(sku="B", category="Bohnen", quantity=1, unit_price=Decimal(30))],
            award_now=True,
        )
    StaffFactory(username="chef")
    return program


@pytest.fixture
def desk(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="de-DE")
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.add_init_script(WATCH)
    yield page
    context.close()


def test_segment_campaign_what_if_and_save(desk, live_server, program):
    page, base = desk, live_server.url
    page.goto(f"{base}/admin/login/")
    page.locator("#id_username").fill("chef")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"{base}/admin/")

    # a segment: members of tier Gold or above, counted while editing
    page.goto(f"{base}/admin/programs/segment/add/")
    page.locator("#id_program").select_option(label=program.name)
    page.locator("#id_name").fill("Gold und besser")
    page.locator("#id_conditions-0-field").select_option("tier")
    page.locator("#id_conditions-0-operator").select_option("at_least")
    page.locator("#id_conditions-0-tier").select_option(label="Gold (Kaffeerösterei)")
    expect(page.locator("#segment-count-value")).to_have_text("2")
    page.locator("input[name=_save]").click()
    segment = Segment.objects.get(name="Gold und besser")

    # a draft campaign for it: nothing is fixed yet
    page.goto(f"{base}/admin/programs/campaign/add/")
    page.locator("#id_program").select_option(label=program.name)
    page.locator("#id_name").fill("Goldwochen")
    today = timezone.localdate()
    page.locator("#id_starts_at_0").fill(f"{today:%d.%m.%Y}")
    page.locator("#id_starts_at_1").fill("00:00:00")
    page.locator("#id_ends_at_0").fill(f"{today + timedelta(days=14):%d.%m.%Y}")
    page.locator("#id_ends_at_1").fill("00:00:00")
    page.locator("#id_is_active").uncheck()
    page.locator("#id_segment").select_option(str(segment.pk))
    page.locator("#id_effect").select_option("fixed")
    page.locator("#id_bonus_points").fill("100")
    page.locator("input[name=_continue]").click()
    campaign = Campaign.objects.get(name="Goldwochen")
    assert campaign.audience_frozen_at is None

    # the what-if of the form as it stands: two members' purchases get the bonus
    page.get_by_role("button", name="Was wäre wenn? Letzte Monate nachrechnen").click()
    expect(page.locator("#what-if-figures")).to_be_visible()
    figures = page.locator("#what-if-figures").inner_text()
    assert "200" in figures  # 2 purchases x 100 bonus points
    page.screenshot(path="e2e-artifacts/campaign-what-if.png", full_page=True)

    # back to the campaign: switch it on and save; the audience is fixed
    page.goto(f"{base}/admin/programs/campaign/{campaign.pk}/change/")
    page.locator("#id_is_active").check()
    page.locator("input[name=_save]").click()
    page.wait_for_url(f"{base}/admin/programs/campaign/")
    campaign.refresh_from_db()
    assert campaign.is_active
    assert campaign.audience_frozen_at is not None
    assert CampaignMember.objects.filter(campaign=campaign).count() == 2
    assert page.evaluate("window.cspViolations") == []
