"""The overview invites the customer to their open surveys, with the signed answer link."""

from datetime import timedelta

import pytest
from django.utils import timezone

from surveys.models import Channel, SurveyKind
from surveys.services.invitations import invitation_create
from surveys.services.responses import invitation_dismiss, response_submit
from surveys.services.surveys import survey_create
from surveys.tokens import invitation_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def survey(program):
    return survey_create(program=program, kind=SurveyKind.NPS, name="Zufriedenheit")


@pytest.fixture
def invite(survey):
    def _invite(membership, **kwargs):
        return invitation_create(
            survey=survey, membership=membership, channel=Channel.STAFF, **kwargs
        )

    return _invite


def test_open_invitation_is_a_card_linking_to_its_signed_answer_page(portal, membership, invite):
    invitation = invite(membership)
    html = portal.get("/portal/").content.decode()
    assert "Ihre Meinung ist gefragt" in html
    assert f'href="/umfrage/{invitation_token(invitation.pk)}/"' in html
    # The link opens the answer page.
    assert portal.get(f"/umfrage/{invitation_token(invitation.pk)}/").status_code == 200


def test_in_english_the_card_links_to_the_english_answer_page(portal, membership, invite):
    invitation = invite(membership)
    html = portal.get("/en/portal/").content.decode()
    assert "Your opinion matters" in html
    assert "Ihre Meinung ist gefragt" not in html
    assert f'href="/en/umfrage/{invitation_token(invitation.pk)}/"' in html


def test_answered_dismissed_and_expired_invitations_are_not_shown(
    portal, membership, invite, survey
):
    now = timezone.now()
    answered = invite(membership, now=now - timedelta(days=300))
    response_submit(
        invitation_id=answered.pk, answers={"recommend": "9"}, now=now - timedelta(days=299)
    )
    dismissed = invite(membership, now=now - timedelta(days=200))
    invitation_dismiss(invitation_id=dismissed.pk, now=now - timedelta(days=199))
    invite(membership, now=now - timedelta(days=100))  # link valid 14 days: expired
    html = portal.get("/portal/").content.decode()
    assert "Ihre Meinung ist gefragt" not in html
    assert 'data-testid="survey-invitation"' not in html


def test_another_customers_invitation_is_not_shown(portal, membership, other_membership, invite):
    invitation = invite(other_membership)
    html = portal.get("/portal/").content.decode()
    assert "Ihre Meinung ist gefragt" not in html
    assert invitation_token(invitation.pk) not in html


def test_several_open_invitations_cost_one_query(
    portal, membership, program, settings, django_assert_max_num_queries
):
    settings.SURVEY_COOLDOWN_DAYS = 0
    for n in range(3):
        survey = survey_create(program=program, kind=SurveyKind.CSAT, name=f"Umfrage {n}")
        invitation_create(survey=survey, membership=membership, channel=Channel.STAFF)
    with django_assert_max_num_queries(13):  # the bound of test_dashboard's long history
        html = portal.get("/portal/").content.decode()
    assert html.count('data-testid="survey-invitation"') == 3
