"""Sending is claimed per invitation; at most one reminder, never after an answer."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from surveys.models import Channel, Invitation
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
    Invitation.objects.update(sent_at=long_ago)
    response_submit(invitation_id=second.pk, answers={"recommend": 9})
    assert send_reminders_task() == 1
    assert send_reminders_task() == 0
    assert len(mail.outbox) == 1
    assert "Erinnerung" in mail.outbox[0].subject
    first.refresh_from_db()
    assert first.reminded_at is not None


def test_failed_send_releases_the_claim(nps_survey, membership, monkeypatch):
    invitation = invitation_create(survey=nps_survey, membership=membership, channel=Channel.STAFF)

    def broken(*args, **kwargs):
        raise OSError("SMTP down")

    monkeypatch.setattr("surveys.services.invitations.send_mail", broken)
    with pytest.raises(OSError, match="SMTP down"):
        send_due_invitations_task.run()
    invitation.refresh_from_db()
    assert invitation.sent_at is None
