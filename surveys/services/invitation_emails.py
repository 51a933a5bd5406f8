"""Survey invitation e-mails: the invitation, then at most one reminder, never after an
answer, a dismissal or the link's expiry.

The e-mails go through the shared outbox (``loyalty_site.core.outbox``): claimed a chunk
at a time with a lease, sent outside any transaction, retried with backoff and given up
after ``MAX_ATTEMPTS`` with the reason. An invitation's ``email_state`` is pending until
the invitation e-mail went, then sent until the reminder went (reminded); the same
attempt columns serve the one e-mail on its way. Staff can send an invitation again.
A customer who switched survey e-mails off (one click in each of them) gets none: the
state is skipped, and the invitation still shows in the portal.
"""

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.formats import date_format

from loyalty_site.core.batches import failure_reason
from loyalty_site.core.commit import enqueue_after_commit
from loyalty_site.core.email_links import email_links, email_send
from loyalty_site.core.outbox import Attempt, Outbox, column_names
from surveys.models import Invitation, InvitationEmailState
from surveys.services.invitations import SEND_TASK
from surveys.tokens import invitation_path


def _open(now: datetime) -> Q:
    return Q(answered_at__isnull=True, dismissed_at__isnull=True, expires_at__gt=now)


def _unsent(now: datetime) -> Q:
    return _open(now) & Q(sent_at__isnull=True)


def _reminder_due(now: datetime) -> Q:
    due = now - timedelta(days=settings.SURVEY_REMINDER_AFTER_DAYS)
    return _open(now) & Q(sent_at__lte=due, reminded_at__isnull=True)


INVITATIONS = Outbox(  # the default policy of e-mail, as the notification e-mails
    name="survey invitation",
    model=Invitation,
    **column_names("email_"),
    pending=InvitationEmailState.PENDING,
    done=InvitationEmailState.SENT,
    failed=InvitationEmailState.FAILED,
    condition=_unsent,
)
MAX_ATTEMPTS = INVITATIONS.max_attempts
# The customer's switch for these e-mails (customers.preferences); off: not sent, the
# invitation still shows in the portal.
SURVEY_EMAIL_SWITCH = "email_surveys"
OPTED_OUT = "switched off in the customer's preferences"
# The reminder waits where the invitation e-mail ended (sent) and is due once
# SURVEY_REMINDER_AFTER_DAYS have passed.
REMINDERS = dataclasses.replace(
    INVITATIONS,
    name="survey reminder",
    pending=InvitationEmailState.SENT,
    done=InvitationEmailState.REMINDED,
    condition=_reminder_due,
)


def _mail(invitation: Invitation, *, reminder: bool) -> None:
    customer = invitation.customer
    program = invitation.survey.program
    links = email_links(
        customer_id=customer.pk,
        language=invitation.language,
        topic=SURVEY_EMAIL_SWITCH,
        program_slug=program.slug,
    )
    with translation.override(invitation.language):
        context = {
            "customer": customer,
            "invitation": invitation,
            "survey": invitation.survey,
            "program": program,
            "url": settings.SITE_URL + invitation_path(invitation),
            "links": links,
            "reminder": reminder,
            "expires": date_format(timezone.localtime(invitation.expires_at)),
        }
        subject = render_to_string("surveys/email/invitation_subject.txt", context)
        body = render_to_string("surveys/email/invitation_body.txt", context)
    email_send(to=customer.email, subject=subject, body=body, links=links)


def _load(ids: list[int]) -> dict[int, Invitation]:
    return Invitation.objects.select_related(
        "customer__communication_preferences", "survey__program"
    ).in_bulk(ids)


def _switched_off(invitation: Invitation) -> bool:
    """The customer switched survey e-mails off (the invitation stays in the portal)."""
    preferences = getattr(invitation.customer, "communication_preferences", None)
    return preferences is not None and not getattr(preferences, SURVEY_EMAIL_SWITCH)


def _send(outbox: Outbox, ids: Iterable[int], now: datetime | None, *, reminder: bool) -> int:
    """Mail the due ones of ``ids`` through ``outbox``; returns how many went out. A
    failure to build or send is that e-mail's alone: retried later, the others go on."""
    now = now or timezone.now()

    def attempt(invitation: Invitation) -> Attempt:
        if _switched_off(invitation):
            return Attempt(state=InvitationEmailState.SKIPPED, error=OPTED_OUT, retry=False)
        try:
            _mail(invitation, reminder=reminder)
        except (DatabaseError, SoftTimeLimitExceeded):
            raise  # not this e-mail's fault: the task stops (and is retried)
        except Exception as exc:  # SMTP, network, or this message itself (a bad address)
            return Attempt(error=failure_reason(exc))
        if reminder:
            return Attempt(values={"reminded_at": now})
        # sent; the reminder starts its own series of attempts
        return Attempt(values={"sent_at": now, "email_attempts": 0, "email_next_attempt_at": now})

    outcomes = outbox.send(ids, attempt, now=now, load=_load)
    return sum(outcome.state == outbox.done for _pk, outcome in outcomes)


def invitations_send(ids: Iterable[int], now: datetime | None = None) -> int:
    """Send the invitation e-mails of these invitations that are due; how many went."""
    return _send(INVITATIONS, ids, now, reminder=False)


def invitations_remind(ids: Iterable[int], now: datetime | None = None) -> int:
    """Send the one reminder of these invitations where it is due; how many went."""
    return _send(REMINDERS, ids, now, reminder=True)


def invitation_send(*, invitation_id: int, now: datetime | None = None) -> bool:
    """Send the invitation e-mail once. False if there was nothing to send (already
    sent, answered or expired, retry not yet due) or the send failed (retried later)."""
    return invitations_send([invitation_id], now) == 1


def invitation_remind(*, invitation_id: int, now: datetime | None = None) -> bool:
    """Send the one reminder of an unanswered invitation; False if not due or done."""
    return invitations_remind([invitation_id], now) == 1


def invitations_unsent(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    return INVITATIONS.due(now, limit)


def invitations_reminder_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    return REMINDERS.due(now, limit)


@transaction.atomic
def invitations_resend(ids: Iterable[int]) -> int:
    """Staff send these invitations again (after a mail server fix, or to a member who
    lost the e-mail): open ones only, as new, the reminder following in its time. Returns
    how many were queued; answered, dismissed and expired ones are left as they are."""
    now = timezone.now()
    queued = list(
        Invitation.objects.filter(_open(now), pk__in=list(ids)).values_list("pk", flat=True)
    )
    INVITATIONS.resend(queued, sent_at=None, reminded_at=None)
    for pk in queued:
        enqueue_after_commit(SEND_TASK, pk)
    return len(queued)
