"""E-mails the portal sends about what a member did there: sent after the commit of the
change, in the member's language, with the links every customer e-mail carries
(``loyalty_site.core.email_links``)."""

import logging

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

from customers.models import Customer
from customers.preferences import customer_preferences
from loyalty_site.core.commit import run_after_commit
from loyalty_site.core.email_links import email_links, email_send, site_url
from programs.models import Redemption

logger = logging.getLogger("loyalty_site.portal")

# The switch that turns these e-mails off: the one of the "reward redeemed" notification.
VOUCHER_EMAIL_SWITCH = "email_rewards"


def _send(customer: Customer, language: str, links, template: str, context: dict) -> None:
    """Render ``template``_subject.txt and ``template``.txt in ``language`` (with the
    customer and the links) and send them to the customer, with the links' headers."""
    context = {"customer": customer, "links": links, **context}
    with translation.override(language):
        subject = render_to_string(f"{template}_subject.txt", context)
        body = render_to_string(f"{template}.txt", context)
    email_send(to=customer.email, subject=subject, body=body, links=links)


def voucher_emails_wanted(customer: Customer) -> bool:
    """The member has an address and has not switched reward e-mails off."""
    if not customer.email or customer.anonymized_at is not None:
        return False
    return customer_preferences(customer)[VOUCHER_EMAIL_SWITCH]


def voucher_cancelled_email_send(*, redemption_id: int) -> bool:
    """Tell the member their voucher is cancelled and the points are back. Not sent without
    an address or with reward e-mails switched off. Returns whether it was sent."""
    redemption = Redemption.objects.select_related(
        "reward", "membership__program", "membership__customer"
    ).get(pk=redemption_id)
    customer = redemption.membership.customer
    if not voucher_emails_wanted(customer):
        return False
    language = customer.language or settings.LANGUAGE_CODE
    program = redemption.membership.program
    links = email_links(
        customer_id=customer.pk,
        language=language,
        topic=VOUCHER_EMAIL_SWITCH,
        voucher_id=redemption.pk,
        program_slug=program.slug,
    )
    context = {
        "redemption": redemption,
        "program": program,
        "password_url": site_url("portal:profile", language=language) + "#h-password",
    }
    _send(customer, language, links, "portal/emails/voucher_cancelled", context)
    return True


def voucher_cancelled_email_after_commit(redemption: Redemption) -> None:
    """Send ``voucher_cancelled_email_send`` once the cancellation commits; a mail server
    failure is logged, never raised into the request whose change is already saved."""

    def send() -> None:
        voucher_cancelled_email_send(redemption_id=redemption.pk)

    run_after_commit(send, "portal.voucher_cancelled_email_send")


def password_changed_email_send(*, customer_id: int) -> bool:
    """Tell the customer their password was changed in the portal, with the way back if it
    was not them (the forgotten-password link). A security notice: no unsubscribe, sent
    whatever the e-mail switches say. Returns whether it was sent."""
    customer = Customer.objects.filter(pk=customer_id).first()
    if customer is None or not customer.email or customer.anonymized_at is not None:
        return False
    language = customer.language or settings.LANGUAGE_CODE
    links = email_links(customer_id=customer.pk, language=language)
    context = {"reset_url": site_url("portal:password_reset", language=language)}
    _send(customer, language, links, "portal/emails/password_changed", context)
    return True


def password_changed_email_after_commit(customer: Customer) -> None:
    """``password_changed_email_send`` once the change commits; a mail server failure is
    logged, never raised into the request."""

    def send() -> None:
        password_changed_email_send(customer_id=customer.pk)

    run_after_commit(send, "portal.password_changed_email_send")
