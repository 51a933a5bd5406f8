"""Survey jobs: thin, repeatable, by id. E-mails are claimed per invitation, so a task
that runs twice sends nothing twice. An invitation whose e-mail cannot be built or sent
(a broken address) is logged and left unsent, and the others go out; a mail server outage
(``OSError``) stops the task, to be retried."""

from celery import shared_task

from loyalty_site.core.batches import TRANSIENT, each_apply
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
        progress = _each(invitations.invitation_send, ids)
        sent += progress
        if progress == 0:
            break
    return sent


@shared_task(soft_time_limit=600, time_limit=660)
def send_reminders_task() -> int:
    return _each(invitations.invitation_remind, invitations.invitations_reminder_due(limit=5000))


def _each(send, ids: list[int]) -> int:
    """``send`` each invitation; one that fails alone is skipped (its claim released)."""
    results = each_apply(
        ids, lambda pk: send(invitation_id=pk), lambda pk, error: False, (*TRANSIENT, OSError)
    )
    return sum(results)


@shared_task(soft_time_limit=600, time_limit=660)
def invite_after_purchases_task() -> int:
    return invitations.invitations_after_purchases()


@shared_task(soft_time_limit=1800, time_limit=1900)
def build_snapshots_task(months: int = 2) -> int:
    """Nightly: recompute the last ``months`` months (late answers and returns land in
    the previous month too) and the cohorts."""
    return snapshots_build(months=months)
