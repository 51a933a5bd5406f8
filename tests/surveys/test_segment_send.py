"""Sending a survey to a saved segment: exactly its members with an e-mail address, still
throttled; the form offers the survey program's segments, and a segment or filters."""

import pytest
from django.urls import reverse

from programs.models import Segment, SegmentCondition
from programs.models import SegmentField as F
from programs.models import SegmentOperator as Op
from surveys.errors import SurveyInactive
from surveys.models import Channel, Invitation
from surveys.services.invitations import invitation_create, invitations_for_segment
from tests.factories import ProgramFactory, standard_tiers

pytestmark = pytest.mark.django_db


@pytest.fixture
def gold_segment(program, tiers):
    segment = Segment.objects.create(program=program, name="Gold und besser")
    SegmentCondition.objects.create(
        segment=segment, field=F.TIER, operator=Op.AT_LEAST, tier=tiers["Gold"]
    )
    return segment


@pytest.fixture
def members(member, tiers):
    """Gold with e-mail, Platin (invited to a survey lately), Gold without e-mail, Silber."""
    found = {
        "gold": member(),
        "platin_throttled": member(),
        "gold_no_email": member(email=""),
        "silber": member(),
    }
    for name, tier in (
        ("gold", "Gold"),
        ("platin_throttled", "Platin"),
        ("gold_no_email", "Gold"),
        ("silber", "Silber"),
    ):
        found[name].tier = tiers[tier]
        found[name].save()
    return found


def invited() -> set[int]:
    return set(
        Invitation.objects.filter(channel=Channel.STAFF).values_list("membership", flat=True)
    )


def test_a_saved_segment_invites_exactly_its_members_with_an_address(
    nps_survey, gold_segment, members
):
    invitation_create(
        survey=nps_survey, membership=members["platin_throttled"], channel=Channel.PARTNER
    )

    result = invitations_for_segment(survey=nps_survey, segment=gold_segment)

    assert (result.matched, result.invited, result.throttled) == (2, 1, 1)
    assert invited() == {members["gold"].pk}


def test_a_segment_of_another_program_is_refused(nps_survey, members):
    other = ProgramFactory()
    standard_tiers(other)
    foreign = Segment.objects.create(program=other, name="Fremd")

    with pytest.raises(SurveyInactive):
        invitations_for_segment(survey=nps_survey, segment=foreign)
    assert not Invitation.objects.exists()


def segment_url(survey) -> str:
    return reverse("admin:surveys_survey_segment", args=[survey.pk])


def test_staff_send_to_a_saved_segment(admin_client, nps_survey, gold_segment, members):
    page = admin_client.get(segment_url(nps_survey))
    assert "Gold und besser" in page.content.decode()

    reply = admin_client.post(
        segment_url(nps_survey),
        {"segment": gold_segment.pk, "tier": "", "partner": "", "engagement": ""},
    )

    assert reply.status_code == 302
    assert invited() == {members["gold"].pk, members["platin_throttled"].pk}


def test_a_segment_and_filters_together_are_refused(
    admin_client, nps_survey, gold_segment, tiers, members
):
    reply = admin_client.post(
        segment_url(nps_survey),
        {"segment": gold_segment.pk, "tier": tiers["Gold"].pk, "partner": "", "engagement": ""},
    )

    assert reply.status_code == 200
    assert "nicht beides" in reply.content.decode()
    assert not Invitation.objects.exists()


def test_only_the_surveys_program_segments_are_offered(admin_client, nps_survey, members):
    other = ProgramFactory()
    foreign = Segment.objects.create(program=other, name="Fremd")

    page = admin_client.get(segment_url(nps_survey))
    reply = admin_client.post(
        segment_url(nps_survey),
        {"segment": foreign.pk, "tier": "", "partner": "", "engagement": ""},
    )

    assert "Fremd" not in page.content.decode()
    assert reply.status_code == 200
    assert not Invitation.objects.exists()


def test_the_filters_still_work_without_a_segment(admin_client, nps_survey, tiers, members):
    reply = admin_client.post(
        segment_url(nps_survey),
        {"segment": "", "tier": tiers["Silber"].pk, "partner": "", "engagement": ""},
    )

    assert reply.status_code == 302
    assert invited() == {members["silber"].pk}
