"""Staff build a targeted campaign on its own admin page: audience, conditions, effect
and limits; the audience is fixed on the first active save; mistakes are form errors."""

import pytest
from django.urls import reverse
from django.utils import translation

from programs.models import Campaign, CampaignMember
from programs.services.memberships import membership_enroll
from tests.factories import CustomerFactory, PartnerFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


def campaign_data(program, **changes):
    data = {
        "program": program.pk,
        "name": "Röstfrisch-Wochen",
        "description": "",
        "starts_at_0": "01.11.2026",
        "starts_at_1": "00:00:00",
        "ends_at_0": "30.11.2026",
        "ends_at_1": "00:00:00",
        "is_active": "on",
        "holdout_percent": "0",
        "min_spend": "",
        "hour_from": "",
        "hour_until": "",
        "categories": "Bohnen, Espresso",
        "skus": "",
        "effect": "multiplier",
        "multiplier": "2",
        "bonus_points": "",
        "cap_per_member": "",
        "cap_per_member_day": "",
        "budget_points": "",
    }
    return {**data, **changes}


def add(staff_client, data):
    with translation.override("de"):
        return staff_client.post(reverse("admin:programs_campaign_add"), data)


def test_staff_save_a_targeted_campaign_with_a_holdout(staff_client, program):
    members = [membership_enroll(customer=CustomerFactory(), program=program)[0] for _ in range(50)]
    shop = PartnerFactory(programs=[program])
    response = add(
        staff_client,
        campaign_data(
            program,
            holdout_percent="20",
            weekdays=["5", "6"],
            partner=shop.pk,
            budget_points="5000",
        ),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    campaign = Campaign.objects.get()
    assert campaign.categories == ["Bohnen", "Espresso"]
    assert campaign.weekdays == [5, 6]
    assert campaign.partner == shop
    assert campaign.audience_frozen_at is not None
    assert CampaignMember.objects.filter(campaign=campaign).count() == len(members)
    # once fixed, the audience cannot be changed on the page
    page = staff_client.get(reverse("admin:programs_campaign_change", args=[campaign.pk]))
    assert 'name="holdout_percent"' not in page.content.decode()
    listing = staff_client.get(reverse("admin:programs_campaign_changelist"))
    assert "0 / 5000" in listing.content.decode()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"effect": "fixed", "bonus_points": ""}, "bonus_points"),
        ({"multiplier": "1"}, "multiplier"),
        ({"ends_at_0": "01.10.2026"}, "ends_at"),
        ({"hour_from": "25"}, "hour_from"),
        ({"hour_from": "8", "hour_until": "8"}, "hour_until"),
        ({"holdout_percent": "80"}, None),
    ],
)
def test_mistakes_are_form_errors(staff_client, program, changes, field):
    response = add(staff_client, campaign_data(program, **changes))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors
    if field:
        assert field in errors
    assert not Campaign.objects.exists()


def test_a_segment_of_another_program_is_refused(staff_client, program):
    from programs.models import Segment
    from tests.factories import ProgramFactory

    other = Segment.objects.create(program=ProgramFactory(), name="Fremd")
    response = add(staff_client, campaign_data(program, segment=other.pk))
    assert "segment" in response.context["adminform"].form.errors


def test_the_change_page_speaks_german(staff_client, program):
    with translation.override("de"):
        page = staff_client.get(reverse("admin:programs_campaign_add"), HTTP_ACCEPT_LANGUAGE="de")
    content = page.content.decode()
    for words in ("Zielgruppe", "Bedingungen", "Wirkung", "Grenzen"):
        assert words in content
