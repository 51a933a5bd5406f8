"""The links every e-mail to a customer carries, and its unsubscribe headers: the one place
that builds them (notification e-mails, survey invitations, the portal's account e-mails).

* ``links.portal``: the customer portal (of the e-mail's program, when there is one);
* ``links.voucher``: the voucher's page, for an e-mail about a voucher;
* ``links.preferences``: the profile page where all e-mail switches are;
* ``links.unsubscribe``: for an e-mail the customer may switch off, a signed one-click link
  that switches off that kind of e-mail (``topic``, a switch of
  ``customers.preferences``); ``links.headers`` are then ``List-Unsubscribe`` and
  ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058). E-mails that must
  reach the customer (confirmation, password reset, notice before deletion) have none.

Every link is absolute, on ``SITE_URL`` (never on the host a request named), in the
customer's language (``/en/...`` for English). The unsubscribe token is signed with the
``SECRET_KEY`` (``django.core.signing``) and holds the customer's id and the topic, so it
needs no table; it is valid ``UNSUBSCRIBE_LINK_DAYS`` after the e-mail was built.
"""

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMessage
from django.urls import reverse
from django.utils import translation

UNSUBSCRIBE_SALT = "loyalty.email.unsubscribe"
UNSUBSCRIBE_LINK_DAYS = 365


class UnsubscribeLinkInvalid(Exception):
    """An unsubscribe token that was not signed by us (``reason`` "invalid") or is older
    than ``UNSUBSCRIBE_LINK_DAYS`` (``reason`` "expired")."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def unsubscribe_token(*, customer_id: int, topic: str) -> str:
    return signing.dumps({"c": customer_id, "t": topic}, salt=UNSUBSCRIBE_SALT)


def unsubscribe_token_read(token: str) -> tuple[int, str]:
    """``(customer id, topic)`` of a token; ``UnsubscribeLinkInvalid`` if forged or expired."""
    try:
        value = signing.loads(
            token, salt=UNSUBSCRIBE_SALT, max_age=timedelta(days=UNSUBSCRIBE_LINK_DAYS)
        )
    except signing.SignatureExpired:
        raise UnsubscribeLinkInvalid("expired") from None
    except signing.BadSignature:
        raise UnsubscribeLinkInvalid("invalid") from None
    try:
        return int(value["c"]), str(value["t"])
    except (KeyError, TypeError, ValueError):
        raise UnsubscribeLinkInvalid("invalid") from None


def site_url(name: str, *, language: str | None = None, args=(), query=None) -> str:
    """The absolute address of URL ``name`` on ``SITE_URL``, in ``language`` (the active
    one if not given), with ``query`` (a dict) appended."""
    with translation.override(language or translation.get_language()):
        path = reverse(name, args=args)
    if query:
        path += "?" + urlencode(query)
    return settings.SITE_URL.rstrip("/") + path


@dataclass(frozen=True)
class EmailLinks:
    portal: str
    preferences: str
    unsubscribe: str = ""
    voucher: str = ""

    @property
    def headers(self) -> dict[str, str]:
        """The unsubscribe headers (RFC 2369, RFC 8058); none without an unsubscribe link."""
        if not self.unsubscribe:
            return {}
        return {
            "List-Unsubscribe": f"<{self.unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }


def email_links(
    *,
    customer_id: int,
    language: str,
    topic: str | None = None,
    voucher_id: int | None = None,
    program_slug: str = "",
) -> EmailLinks:
    """The links of one e-mail to a customer: ``topic`` the preference switch that turns
    this kind of e-mail off (None: it cannot be switched off, no unsubscribe link);
    ``voucher_id`` the redemption the e-mail is about; ``program_slug`` the program whose
    pages the portal link opens."""
    query = {"program": program_slug} if program_slug else None
    unsubscribe = ""
    if topic:
        token = unsubscribe_token(customer_id=customer_id, topic=topic)
        unsubscribe = site_url("portal:unsubscribe", language=language, args=[token])
    return EmailLinks(
        portal=site_url("portal:dashboard", language=language, query=query),
        preferences=site_url("portal:profile", language=language) + "#h-prefs",
        unsubscribe=unsubscribe,
        voucher=site_url("portal:redemption", language=language, args=[voucher_id])
        if voucher_id
        else "",
    )


def email_send(*, to: str, subject: str, body: str, links: EmailLinks) -> None:
    """Send a rendered e-mail to one customer, with ``links``' unsubscribe headers (the
    subject on one line, whatever the template's line breaks)."""
    EmailMessage(
        subject=" ".join(subject.split()),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers=links.headers,
    ).send()
