"""Partner API: invite a member (write, idempotent, throttled, scoped) and read NPS."""

import pytest
from django.core.cache import cache

from programs.models import PartnerCustomer
from surveys.models import Channel, Invitation
from surveys.services.invitations import invitation_create
from surveys.services.responses import response_submit
from tests.api.conftest import client_for, enroll
from tests.factories import PartnerFactory

pytestmark = pytest.mark.django_db
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api(partner, tiers):
    return client_for(partner)


@pytest.fixture
def partner_b(program):
    return PartnerFactory(slug="merchant", programs=[program])


@pytest.fixture
def api_b(partner_b):
    return client_for(partner_b)


def invite(client, external_id, survey_id, **headers):
    return client.post(
        f"/api/v1/members/{external_id}/survey-invitations",
        {"survey": survey_id},
        format="json",
        **headers,
    )


def test_partner_invites_its_member_and_the_invitation_is_attributed(api, partner, nps_survey):
    enroll(api, "k-1")
    reply = invite(api, "k-1", nps_survey.pk)
    assert reply.status_code == 201, reply.json()
    body = reply.json()
    assert (body["survey"], body["external_id"], body["channel"]) == (
        nps_survey.pk,
        "k-1",
        "partner",
    )
    invitation = Invitation.objects.get(pk=body["id"])
    assert (invitation.partner, invitation.channel) == (partner, Channel.PARTNER)


def test_second_invitation_is_throttled_with_a_reason(api, nps_survey):
    enroll(api, "k-1")
    assert invite(api, "k-1", nps_survey.pk).status_code == 201
    reply = invite(api, "k-1", nps_survey.pk)
    assert reply.status_code == 409
    assert reply["Content-Type"].startswith(PROBLEM)
    assert reply.json()["code"] == "survey_throttled"
    assert "90" in reply.json()["detail"]


def test_idempotency_key_replays_the_first_invitation(api, nps_survey):
    enroll(api, "k-1")
    first = invite(api, "k-1", nps_survey.pk, HTTP_IDEMPOTENCY_KEY="inv-1")
    again = invite(api, "k-1", nps_survey.pk, HTTP_IDEMPOTENCY_KEY="inv-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Invitation.objects.count() == 1


def test_partner_cannot_invite_another_partners_member(api, api_b, nps_survey):
    enroll(api, "k-1")
    reply = invite(api_b, "k-1", nps_survey.pk)
    assert reply.status_code == 404
    assert not Invitation.objects.exists()


def test_unknown_or_foreign_survey_is_a_400(api, nps_survey):
    enroll(api, "k-1")
    reply = invite(api, "k-1", nps_survey.pk + 999)
    assert reply.status_code == 400
    assert reply.json()["errors"][0]["field"] == "survey"


def test_read_scope_cannot_invite(partner, nps_survey, api):
    enroll(api, "k-1")
    reply = invite(client_for(partner, scopes=("read",)), "k-1", nps_survey.pk)
    assert reply.status_code == 403


def test_nps_counts_only_the_partners_own_members(api, api_b, partner_b, nps_survey):
    scores = {"a1": 10, "a2": 9, "a3": 3, "b1": 0}
    for external_id, score in scores.items():
        client = api if external_id.startswith("a") else api_b
        member = enroll(client, external_id)
        invitation_id = invite(client, external_id, nps_survey.pk).json()["id"]
        response_submit(invitation_id=invitation_id, answers={"recommend": score})
        assert member
    mine = api.get("/api/v1/surveys/nps").json()
    assert (mine["promoters"], mine["passives"], mine["detractors"]) == (2, 0, 1)
    assert mine["nps"] == pytest.approx(100 / 3)  # (2 - 1) / 3
    theirs = api_b.get("/api/v1/surveys/nps?program=treue").json()
    assert (theirs["responses"], theirs["nps"]) == (1, -100.0)
    # a customer linked by both partners counts for both
    b1 = Invitation.objects.get(partner=partner_b).customer
    PartnerCustomer.objects.create(partner=api.api_key.partner, customer=b1, external_id="a-b1")
    assert api.get("/api/v1/surveys/nps").json()["responses"] == 4


def test_nps_without_answers_is_null_not_zero(api):
    body = api.get("/api/v1/surveys/nps").json()
    assert body["responses"] == 0
    assert body["nps"] is None


def test_nps_unknown_program_is_400(api):
    assert api.get("/api/v1/surveys/nps?program=nope").status_code == 400


def test_survey_list_shows_only_surveys_of_the_partners_programs(api, nps_survey):
    from surveys.services.surveys import survey_create
    from tests.factories import ProgramFactory

    survey_create(program=ProgramFactory(), kind="nps", name="fremd")
    body = api.get("/api/v1/surveys").json()
    assert [s["id"] for s in body] == [nps_survey.pk]


def test_dismissed_invitations_do_not_count(api, nps_survey, membership, partner):
    PartnerCustomer.objects.create(partner=partner, customer=membership.customer, external_id="z")
    invitation = invitation_create(survey=nps_survey, membership=membership, channel="staff")
    from surveys.services.responses import invitation_dismiss

    invitation_dismiss(invitation_id=invitation.pk)
    assert api.get("/api/v1/surveys/nps").json()["responses"] == 0
