"""Survey jobs: thin, repeatable, by id. E-mails are claimed per invitation, so a task
that runs twice sends nothing twice."""

from celery import shared_task

from surveys.services import invitations
from surveys.services.snapshots import snapshots_build

MAIL_OPTIONS = {
    "autoretry_for": (OSError,),
    "retry_backoff": 30,
    "max_retries": 5,
    "soft_time_limit": 60,
    "time_limit": 90,
}


@shared_task(**MAIL_OPTIONS)
def send_invitation_task(invitation_id: int) -> bool:
    return invitations.invitation_send(invitation_id=invitation_id)


@shared_task(soft_time_limit=600, time_limit=660)
def send_due_invitations_task() -> int:
    """Send every unsent invitation (after a segment send; also swept by beat)."""
    sent = 0
    while ids := invitations.invitations_unsent():
        progress = sum(invitations.invitation_send(invitation_id=i) for i in ids)
        sent += progress
        if progress == 0:
            break
    return sent


@shared_task(soft_time_limit=600, time_limit=660)
def send_reminders_task() -> int:
    return sum(
        invitations.invitation_remind(invitation_id=i)
        for i in invitations.invitations_reminder_due(limit=5000)
    )


@shared_task(soft_time_limit=600, time_limit=660)
def invite_after_purchases_task() -> int:
    return invitations.invitations_after_purchases()


@shared_task(soft_time_limit=1800, time_limit=1900)
def build_snapshots_task(months: int = 2) -> int:
    """Nightly: recompute the last ``months`` months (late answers and returns land in
    the previous month too) and the cohorts."""
    return snapshots_build(months=months)
