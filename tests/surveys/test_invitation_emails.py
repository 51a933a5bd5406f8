"""Invitation e-mails through the outbox: a failing e-mail is retried with backoff and
given up with its reason (no reminder follows), staff send an invitation again from the
admin, and the migration's backfill leaves existing invitations where they were."""

import importlib
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from customers.preferences import customer_preferences_update
from surveys.models import Channel, Invitation, InvitationEmailState
from surveys.services.invitation_emails import (
    MAX_ATTEMPTS,
    invitation_remind,
    invitation_send,
    invitations_reminder_due,
    invitations_unsent,
)
from surveys.services.invitations import invitation_create
from surveys.services.responses import response_submit
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db
MIGRATION = importlib.import_module("surveys.migrations.0002_invitation_email_outbox")


def invite(survey, membership, **kwargs):
    return invitation_create(survey=survey, membership=membership, channel=Channel.STAFF, **kwargs)


def test_a_failing_invitation_is_retried_then_given_up_with_the_reason(
    nps_survey, membership, monkeypatch
):
    invitation = invite(nps_survey, membership)

    def refused(*args, **kwargs):
        raise ConnectionRefusedError("mail server refused")

    monkeypatch.setattr("loyalty_site.core.email_links.EmailMessage.send", refused)
    at = timezone.now()
    for _ in range(MAX_ATTEMPTS):
        assert not invitation_send(invitation_id=invitation.pk, now=at)
        at += timedelta(hours=3)

    invitation.refresh_from_db()
    assert invitation.email_state == InvitationEmailState.FAILED
    assert invitation.email_attempts == MAX_ATTEMPTS
    assert invitation.email_last_error == "ConnectionRefusedError: mail server refused"
    assert invitation.sent_at is None
    assert invitations_unsent(now=at) == []
    assert invitations_reminder_due(now=at + timedelta(days=5)) == []


def test_the_reminder_follows_the_sent_invitation_in_its_time(nps_survey, membership, settings):
    settings.SURVEY_REMINDER_AFTER_DAYS = 4
    start = timezone.now()
    invitation = invite(nps_survey, membership, now=start)
    assert invitation_send(invitation_id=invitation.pk, now=start)
    assert not invitation_remind(invitation_id=invitation.pk, now=start + timedelta(days=3))
    assert invitation_remind(invitation_id=invitation.pk, now=start + timedelta(days=4))
    assert not invitation_remind(invitation_id=invitation.pk, now=start + timedelta(days=5))
    invitation.refresh_from_db()
    assert (invitation.email_state, invitation.email_attempts) == ("reminded", 1)
    assert invitation.reminded_at == start + timedelta(days=4)
    assert [("Erinnerung" in m.subject) for m in mail.outbox] == [False, True]


def test_staff_send_open_invitations_again(
    nps_survey, member, client, django_capture_on_commit_callbacks
):
    lost, answered = invite(nps_survey, member()), invite(nps_survey, member())
    for invitation in (lost, answered):
        assert invitation_send(invitation_id=invitation.pk)
    first_sent = Invitation.objects.get(pk=lost.pk).sent_at
    response_submit(invitation_id=answered.pk, answers={"recommend": 9})
    client.force_login(StaffFactory())

    with django_capture_on_commit_callbacks(execute=True):
        reply = client.post(
            "/admin/surveys/invitation/",
            {"action": "resend_email", "_selected_action": [lost.pk, answered.pk]},
            follow=True,
        )

    assert reply.status_code == 200
    assert "1 Einladung eingereiht" in reply.content.decode()  # German, as staff read it
    assert [m.to for m in mail.outbox] == [
        [lost.customer.email],
        [answered.customer.email],
        [lost.customer.email],
    ]
    lost.refresh_from_db()
    assert lost.email_state == InvitationEmailState.SENT
    assert lost.sent_at > first_sent  # the reminder counts from the new e-mail


def test_the_backfill_makes_unsent_open_invitations_due_and_sent_ones_done(
    nps_survey, member, settings
):
    settings.SURVEY_REMINDER_AFTER_DAYS = 4
    now = timezone.now()
    week_ago = now - timedelta(days=7)
    unsent, sent, reminded, expired = (invite(nps_survey, member(), now=week_ago) for _ in "1234")
    Invitation.objects.filter(pk__in=[sent.pk, reminded.pk]).update(sent_at=week_ago)
    Invitation.objects.filter(pk=reminded.pk).update(reminded_at=now - timedelta(days=2))
    Invitation.objects.filter(pk=expired.pk).update(expires_at=now - timedelta(days=1))
    # the columns as the migration's AddField leaves them, before the backfill
    Invitation.objects.update(email_state="pending", email_next_attempt_at=now)

    with connection.cursor() as cursor:
        cursor.execute(MIGRATION.BACKFILL)

    states = dict(Invitation.objects.values_list("pk", "email_state"))
    assert [states[i.pk] for i in (unsent, sent, reminded, expired)] == [
        "pending",
        "sent",
        "reminded",
        "pending",
    ]
    assert invitations_unsent(now=now) == [unsent.pk]  # the expired one stays unsent
    assert invitations_reminder_due(now=now) == [sent.pk]


def test_an_invitation_carries_a_one_click_unsubscribe(nps_survey, membership):
    invitation = invite(nps_survey, membership)
    assert invitation_send(invitation_id=invitation.pk)
    [sent] = mail.outbox
    assert sent.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = sent.extra_headers["List-Unsubscribe"].strip("<>")
    assert link in sent.body
    assert "/portal/unsubscribe/" in link


def test_a_customer_who_switched_surveys_off_gets_no_e_mail_but_keeps_the_invitation(
    nps_survey, membership
):
    customer_preferences_update(membership.customer, email_surveys=False)
    invitation = invite(nps_survey, membership)
    assert not invitation_send(invitation_id=invitation.pk)
    invitation.refresh_from_db()
    assert invitation.email_state == InvitationEmailState.SKIPPED
    assert invitation.email_last_error == "switched off in the customer's preferences"
    assert mail.outbox == []
    assert invitations_unsent(now=timezone.now() + timedelta(hours=1)) == []  # not retried
    assert invitation.is_open  # the portal still offers the survey
