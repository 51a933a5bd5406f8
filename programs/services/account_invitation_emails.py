"""The e-mail inviting someone to a shared account (``programs.services.accounts``).

The e-mails go through the shared outbox (``loyalty_site.core.outbox``) over the
invitation's ``email_`` columns: claimed a chunk at a time with a lease, sent outside any
transaction, retried with backoff and given up after ``MAX_ATTEMPTS`` with the reason.
An invitation that was answered, withdrawn or has expired before its e-mail went is not
sent (it is no longer due). ``account_invitation_emails_due`` feeds the sweeper.

The invited address may belong to no one yet: the e-mail then links the sign-up of the
account's program, and whoever signs up with that address finds the invitation in the
portal (``accounts.invitations_open_for``). A customer with a login gets the portal's
shared-account page, in their language; everyone else gets German, the default.
"""

from collections.abc import Iterable
from datetime import datetime

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.formats import date_format

from customers.emails import email_normalize
from customers.models import Customer, CustomerKind
from loyalty_site.core.batches import failure_reason
from loyalty_site.core.email_links import EmailLinks, email_send, site_url
from loyalty_site.core.outbox import Attempt, Outbox, Outcome, column_names
from programs.models import AccountInvitation, InvitationStatus

PENDING, SENT, FAILED = "pending", "sent", "failed"
CHUNK = 100  # e-mails one task sends


def _open(now: datetime) -> Q:
    return Q(status=InvitationStatus.OPEN, expires_at__gt=now)


INVITATION_EMAILS = Outbox(  # the default policy of e-mail, as the notification e-mails
    name="account invitation e-mail",
    model=AccountInvitation,
    **column_names("email_"),
    pending=PENDING,
    done=SENT,
    failed=FAILED,
    condition=_open,
)
MAX_ATTEMPTS = INVITATION_EMAILS.max_attempts


def _invitee(invitation: AccountInvitation) -> Customer | None:
    """The person the address belongs to, if anyone (one with a login first)."""
    return (
        Customer.objects.select_related("user")
        .filter(kind=CustomerKind.PERSON, email_normalized=email_normalize(invitation.email))
        .order_by(F("user").asc(nulls_last=True), "pk")
        .first()
    )


def _inviter_name(invitation: AccountInvitation) -> str:
    if invitation.invited_by is None:
        return ""
    person = invitation.invited_by.customer
    return f"{person.first_name} {person.last_name}".strip()


def account_invitation_email_render(invitation: AccountInvitation) -> tuple[str, str, str]:
    """Subject, body and recipient of the invitation's e-mail."""
    customer = _invitee(invitation)
    has_login = customer is not None and customer.user_id is not None
    language = customer.language if has_login else settings.LANGUAGE_CODE
    account = invitation.account
    program = account.program
    if has_login:
        url = site_url("portal:shared_account", language=language, query={"program": program.slug})
    else:
        url = site_url("portal:signup", language=language, args=[program.slug])
    with translation.override(language):
        context = {
            "customer": customer if has_login else None,
            "invitation": invitation,
            "account": account,
            "program": program,
            "inviter": _inviter_name(invitation),
            "role": invitation.get_role_display(),
            "pools": program.accounts_pool,
            "has_login": has_login,
            "url": url,
            "expires": date_format(timezone.localtime(invitation.expires_at)),
        }
        subject = render_to_string("programs/email/account_invitation_subject.txt", context)
        body = render_to_string("programs/email/account_invitation_body.txt", context)
    return subject, body, invitation.email


def _load(ids: list[int]) -> dict[int, AccountInvitation]:
    return AccountInvitation.objects.select_related(
        "account__program", "invited_by__customer"
    ).in_bulk(ids)


def _attempt(invitation: AccountInvitation) -> Attempt:
    """Send one claimed invitation's e-mail; a failure is this e-mail's alone."""
    try:
        subject, body, to = account_invitation_email_render(invitation)
        portal = site_url("portal:dashboard", language=settings.LANGUAGE_CODE)
        email_send(to=to, subject=subject, body=body, links=EmailLinks(portal, portal))
    except (DatabaseError, SoftTimeLimitExceeded):
        raise  # not this e-mail's fault: the task stops (and is retried)
    except Exception as exc:  # SMTP, network, or this message itself (a bad address)
        return Attempt(error=failure_reason(exc))
    return Attempt(values={"email_sent_at": timezone.now()})


def account_invitation_emails_send(
    ids: Iterable[int], now: datetime | None = None
) -> list[tuple[int, Outcome]]:
    """Send the e-mails of these invitations that are due (open, not sent, retry due);
    the outcome of each one tried."""
    return INVITATION_EMAILS.send(ids, _attempt, now=now, load=_load)


def account_invitation_emails_due(now: datetime | None = None, limit: int = 5000) -> list[int]:
    return INVITATION_EMAILS.due(now, limit)
