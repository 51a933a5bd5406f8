"""Sending is claimed from the outbox; at most one reminder, never after an answer; a
failed send is retried later, not lost."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from surveys.models import Channel, Invitation, InvitationEmailState
from surveys.services.invitation_emails import invitation_send
from surveys.services.invitations import invitation_create, invitations_for_segment
from surveys.services.responses import response_submit
from surveys.tasks import send_due_invitations_task, send_reminders_task

pytestmark = pytest.mark.django_db


def test_segment_mails_go_out_once_however_often_the_sweep_runs(nps_survey, member):
    for _ in range(3):
        member()
    invitations_for_segment(survey=nps_survey)
    assert send_due_invitations_task() == 3
    assert send_due_invitations_task() == 0
    assert len(mail.outbox) == 3
    assert not Invitation.objects.filter(sent_at__isnull=True).exists()


def test_one_reminder_at_most_and_none_after_answering(nps_survey, member, settings):
    settings.SURVEY_REMINDER_AFTER_DAYS = 4
    long_ago = timezone.now() - timedelta(days=5)
    quiet, answered = member(), member()
    first = invitation_create(
        survey=nps_survey, membership=quiet, channel=Channel.STAFF, now=long_ago
    )
    second = invitation_create(
        survey=nps_survey, membership=answered, channel=Channel.STAFF, now=long_ago
    )
    Invitation.objects.update(sent_at=long_ago, email_state=InvitationEmailState.SENT)
    response_submit(invitation_id=second.pk, answers={"recommend": 9})
    assert send_reminders_task() == 1
    assert send_reminders_task() == 0
    assert len(mail.outbox) == 1
    assert "Erinnerung" in mail.outbox[0].subject
    first.refresh_from_db()
    assert first.reminded_at is not None


def test_failed_send_is_retried_after_a_backoff(nps_survey, membership, monkeypatch):
    invitation = invitation_create(survey=nps_survey, membership=membership, channel=Channel.STAFF)

    def broken(*args, **kwargs):
        raise OSError("SMTP down")

    monkeypatch.setattr("loyalty_site.core.email_links.EmailMessage.send", broken)
    assert send_due_invitations_task.run() == 0
    invitation.refresh_from_db()
    assert invitation.sent_at is None
    assert (invitation.email_state, invitation.email_attempts) == ("pending", 1)
    assert "SMTP down" in invitation.email_last_error
    assert invitation.email_next_attempt_at > timezone.now()  # not before the backoff

    monkeypatch.undo()  # the mail server is back
    assert send_due_invitations_task.run() == 0  # still waiting
    assert invitation_send(invitation_id=invitation.pk, now=timezone.now() + timedelta(minutes=2))
    invitation.refresh_from_db()
    assert invitation.sent_at is not None
    assert len(mail.outbox) == 1
