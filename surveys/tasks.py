"""Survey jobs: thin, repeatable, by id. The e-mails are claimed from the outbox a chunk
at a time, so a task that runs twice sends nothing twice. An invitation whose e-mail
cannot be built or sent (a broken address, the mail server down) is retried later with
backoff and given up after a few hours, and the others go out."""

from celery import shared_task
from django.db import OperationalError

from surveys.services import invitation_emails, invitations
from surveys.services.member_value import member_value_fit_all
from surveys.services.snapshots import snapshots_build

CHUNK = 50  # e-mails claimed at a time

MAIL_OPTIONS = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 30,
    "max_retries": 5,
    "soft_time_limit": 60,
    "time_limit": 90,
}


@shared_task(**MAIL_OPTIONS)
def send_invitation_task(invitation_id: int) -> bool:
    return invitation_emails.invitation_send(invitation_id=invitation_id)


@shared_task(soft_time_limit=600, time_limit=660)
def send_due_invitations_task() -> int:
    """Send every invitation e-mail that is due (after a segment send; also swept by
    beat): new ones, and retries whose time has come."""
    sent = 0
    while ids := invitation_emails.invitations_unsent():
        progress = _in_chunks(invitation_emails.invitations_send, ids)
        sent += progress
        if progress == 0:
            break
    return sent


@shared_task(soft_time_limit=600, time_limit=660)
def send_reminders_task() -> int:
    due = invitation_emails.invitations_reminder_due(limit=5000)
    return _in_chunks(invitation_emails.invitations_remind, due)


def _in_chunks(send, ids: list[int]) -> int:
    return sum(send(ids[start : start + CHUNK]) for start in range(0, len(ids), CHUNK))


@shared_task(soft_time_limit=600, time_limit=660)
def invite_after_purchases_task() -> int:
    return invitations.invitations_after_purchases()


@shared_task(soft_time_limit=1800, time_limit=1900)
def build_snapshots_task(months: int = 2) -> int:
    """Nightly: recompute the last ``months`` months (late answers and returns land in
    the previous month too) and the cohorts."""
    return snapshots_build(months=months)


@shared_task(soft_time_limit=1800, time_limit=1900)
def fit_member_value_task() -> int:
    """Nightly: fit BG/NBD and Gamma-Gamma per program and write every member's
    probability alive, expected purchases and predicted CLV. Safe to run twice (the
    second fit replaces the first); a program that fails is parked, the others go on."""
    return member_value_fit_all()
