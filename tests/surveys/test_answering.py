"""Answering through the signed link: typed answers, dismissal, once, points once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from programs.models import ActionEvent, LedgerEntry, WebhookEvent, WebhookSubscription
from surveys.errors import AnswerInvalid, InvitationUnusable
from surveys.models import Answer, Channel, Invitation, Response, ResponseStatus, SurveyKind
from surveys.services.invitations import invitation_create
from surveys.services.responses import invitation_dismiss, response_submit
from surveys.services.surveys import survey_create
from surveys.tokens import invitation_path, invitation_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def invitation(nps_survey, membership):
    return invitation_create(survey=nps_survey, membership=membership, channel=Channel.STAFF)


def page(client, invitation, **kwargs):
    return client.get(invitation_path(invitation), **kwargs)


def test_answer_page_shows_the_nps_scale_in_german_without_login(client, invitation):
    response = page(client, invitation)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Wie wahrscheinlich ist es, dass Sie uns einem Freund weiterempfehlen?" in html
    for n in range(11):
        assert f'id="recommend-{n}"' in html
    assert 'name="why"' in html
    assert 'name="viewport"' in html


def test_english_invitation_shows_english_questions(client, nps_survey, member):
    english = invitation_create(
        survey=nps_survey, membership=member(language="en"), channel=Channel.STAFF
    )
    html = page(client, english).content.decode()
    assert "How likely is it that you would recommend us to a friend?" in html


def test_submit_stores_typed_answers_credits_points_once_and_thanks(client, invitation):
    url = invitation_path(invitation)
    reply = client.post(url, {"recommend": "9", "why": "Schneller Versand", "send": ""})
    assert reply.status_code == 302
    assert reply.url.endswith("/danke/")
    stored = Response.objects.get(invitation=invitation)
    assert (stored.status, stored.score, stored.comment) == ("answered", 9, "Schneller Versand")
    answers = {a.question.code: a for a in stored.answers.select_related("question")}
    assert answers["recommend"].value == 9
    assert not answers["recommend"].skipped
    assert answers["why"].text == "Schneller Versand"
    membership = invitation.membership
    membership.refresh_from_db()
    assert membership.balance == 50
    assert client.get(reply.url).status_code == 200
    # the same link again: used, friendly 410, nothing changes
    again = client.post(url, {"recommend": "2", "send": ""})
    assert again.status_code == 410
    assert "Bereits beantwortet" in again.content.decode()
    assert Response.objects.count() == 1
    assert LedgerEntry.objects.filter(membership=membership).count() == 1
    assert client.get(url).status_code == 410


def test_optional_question_left_empty_is_skipped_not_zero(invitation):
    response = response_submit(invitation_id=invitation.pk, answers={"recommend": "0"})
    answers = {a.question.code: a for a in response.answers.select_related("question")}
    assert answers["recommend"].value == 0
    assert not answers["recommend"].skipped
    assert answers["why"].skipped
    assert answers["why"].value is None


@pytest.mark.parametrize("value", ["", "11", "-1", "sieben", "7.5"])
def test_missing_or_off_scale_answer_is_refused_and_nothing_is_stored(client, invitation, value):
    reply = client.post(invitation_path(invitation), {"recommend": value, "send": ""})
    assert reply.status_code == 400
    html = reply.content.decode()
    assert 'role="alert"' in html
    assert "Wie wahrscheinlich" in html
    assert not Response.objects.exists()
    assert not Answer.objects.exists()
    invitation.refresh_from_db()
    assert invitation.answered_at is None


def test_dismissed_is_not_an_answer(client, invitation):
    reply = client.post(invitation_path(invitation), {"dismiss": ""})
    assert reply.status_code == 302
    response = Response.objects.get()
    assert response.status == ResponseStatus.DISMISSED
    assert response.score is None
    invitation.refresh_from_db()
    assert invitation.dismissed_at is not None
    assert invitation.answered_at is None
    assert not LedgerEntry.objects.exists()
    with pytest.raises(InvitationUnusable):
        response_submit(invitation_id=invitation.pk, answers={"recommend": "10"})


def test_expired_link_is_refused_with_410(client, invitation):
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(1))
    reply = page(client, invitation)
    assert reply.status_code == 410
    assert "Der Link ist abgelaufen" in reply.content.decode()
    with pytest.raises(InvitationUnusable) as caught:
        response_submit(invitation_id=invitation.pk, answers={"recommend": "10"})
    assert caught.value.details["reason"] == "expired"


@pytest.mark.parametrize(
    "mangle", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: "99" + t, lambda t: "x"]
)
def test_forged_or_tampered_token_is_404(client, invitation, mangle):
    token = mangle(invitation_token(invitation.pk))
    reply = client.get(f"/umfrage/{token}/")
    assert reply.status_code == 404
    assert reply.templates[0].name == "surveys/unusable.html"


def test_cli_stores_three_answers_and_their_sum(program, membership):
    survey = survey_create(program=program, kind=SurveyKind.CLI, name="CLI")
    invitation = invitation_create(survey=survey, membership=membership, channel=Channel.STAFF)
    response = response_submit(
        invitation_id=invitation.pk, answers={"recommend": 8, "buy_again": 10, "try_other": 3}
    )
    assert (response.score, response.cli_total) == (8, 21)
    other = invitation_create(
        survey=survey,
        membership=membership,
        channel=Channel.STAFF,
        now=timezone.now() + timedelta(days=100),
    )
    with pytest.raises(AnswerInvalid):
        response_submit(invitation_id=other.pk, answers={"recommend": 8, "buy_again": 10})


def test_points_are_credited_once_even_if_the_action_is_reported_again(invitation):
    response_submit(invitation_id=invitation.pk, answers={"recommend": "10"})
    assert ActionEvent.objects.filter(reference=f"survey-invitation:{invitation.pk}").count() == 1


def test_answer_records_the_survey_responded_event_for_subscribed_partners(invitation, partner):
    from programs.models import PartnerCustomer

    PartnerCustomer.objects.create(
        partner=partner, customer=invitation.membership.customer, external_id="k-1"
    )
    WebhookSubscription.objects.create(
        partner=partner,
        url="https://example.com/hook",
        secret="s" * 32,
        events=["survey.responded"],
    )
    response_submit(invitation_id=invitation.pk, answers={"recommend": "7"})
    event = WebhookEvent.objects.get(type="survey.responded")
    assert event.payload["data"]["score"] == 7


def test_dismiss_twice_is_refused(invitation):
    invitation_dismiss(invitation_id=invitation.pk)
    with pytest.raises(InvitationUnusable):
        invitation_dismiss(invitation_id=invitation.pk)


def test_english_thank_you_and_errors_in_english(client, nps_survey, member):
    english = invitation_create(
        survey=nps_survey, membership=member(language="en"), channel=Channel.STAFF
    )
    url = invitation_path(english)
    reply = client.post(url, {"recommend": "", "send": ""})
    assert "Please answer: How likely" in reply.content.decode()
    reply = client.post(url, {"recommend": "10", "send": ""}, follow=True)
    assert "Thank you for your answer!" in reply.content.decode()
    assert "We credit you 50 points as a thank-you." in reply.content.decode()


def test_german_thank_you_page(client, invitation):
    reply = client.post(invitation_path(invitation), {"recommend": "8", "send": ""}, follow=True)
    html = reply.content.decode()
    assert "Vielen Dank für Ihre Antwort!" in html
    assert "Als Dankeschön schreiben wir Ihnen 50 Punkte gut." in html
