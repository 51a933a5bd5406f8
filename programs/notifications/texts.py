"""What a notification says, in the customer's language: one title and body per kind,
used by the portal feed and the e-mail alike (the e-mail templates wrap them)."""

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from django.template.loader import render_to_string
from django.utils import formats, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from loyalty_site.core.email_links import EmailLinks, email_links, site_url
from programs.notifications.kinds import EMAIL_SWITCH, NotificationKind

if TYPE_CHECKING:
    from programs.notifications.models import Notification


@dataclass(frozen=True)
class Message:
    title: str
    body: str


def _number(value) -> str:
    return formats.number_format(Decimal(str(value)), use_l10n=True, force_grouping=True)


def _day(value: str) -> str:
    return formats.date_format(date.fromisoformat(value), "DATE_FORMAT")


def _missing(params: dict) -> str:
    if params.get("metric") == "points":
        return _("%(points)s points") % {"points": _number(params["missing"])}
    return f"{_number(Decimal(params['missing']).quantize(Decimal('0.01')))} {params['currency']}"


def notification_message(notification: "Notification") -> Message:
    """Title and body of ``notification`` in the active language."""
    p = notification.params
    kind = notification.kind
    if kind == NotificationKind.TIER_UPGRADE:
        return Message(
            _("Welcome to %(tier)s!") % {"tier": p["tier"]},
            _("You have reached the %(tier)s tier in %(program)s. Enjoy your new benefits.")
            % {"tier": p["tier"], "program": p["program"]},
        )
    if kind == NotificationKind.TIER_DOWNGRADE:
        if not p.get("tier"):
            return Message(
                _("Your tier in %(program)s has ended") % {"program": p["program"]},
                _("Your %(old)s status in %(program)s has ended.")
                % {"old": p.get("from_tier") or "", "program": p["program"]},
            )
        return Message(
            _("Your tier is now %(tier)s") % {"tier": p["tier"]},
            _(
                "Your status in %(program)s has changed from %(old)s to %(tier)s. "
                "Collect points again to move back up."
            )
            % {"old": p.get("from_tier") or "", "tier": p["tier"], "program": p["program"]},
        )
    if kind == NotificationKind.TIER_APPROACHING:
        return Message(
            _("%(tier)s is within reach") % {"tier": p["tier"]},
            _("Only %(missing)s more and you reach the %(tier)s tier in %(program)s.")
            % {"missing": _missing(p), "tier": p["tier"], "program": p["program"]},
        )
    if kind == NotificationKind.POINTS_EXPIRING:
        return Message(
            _("%(points)s points expire on %(day)s")
            % {"points": _number(p["points"]), "day": _day(p["expires_on"])},
            _(
                "%(points)s of your points in %(program)s expire on %(day)s. "
                "Redeem them for a reward before then."
            )
            % {
                "points": _number(p["points"]),
                "day": _day(p["expires_on"]),
                "program": p["program"],
            },
        )
    if kind == NotificationKind.REFERRAL_REWARDED:
        return Message(
            _("Thank you for recommending us!"),
            _("Your friend has joined %(program)s: %(points)s points have been credited to you.")
            % {"program": p["program"], "points": _number(p["points"])},
        )
    if kind == NotificationKind.REWARD_REDEEMED:
        return Message(
            _("Your reward: %(reward)s") % {"reward": p["reward"]},
            _("You redeemed %(points)s points for %(reward)s. Your voucher code is %(code)s.")
            % {"points": _number(p["points"]), "reward": p["reward"], "code": p["voucher_code"]},
        )
    if kind == NotificationKind.OCCASION:
        return _occasion_message(p)
    if kind == NotificationKind.SEGMENT_MESSAGE:  # as staff wrote it, English if given
        english = translation.get_language() == "en" and p.get("title_en")
        if english:
            return Message(p["title_en"], p.get("body_en") or p["body"])
        return Message(p["title"], p["body"])
    if kind == NotificationKind.RETENTION_NOTICE:
        names = {"points": _number(p["points"]), "day": _day(p["delete_on"])}
        return Message(
            _("Your customer account will be deleted on %(day)s") % names,
            _(
                "You have not used your customer account for a long time. To protect your "
                "data, we will delete it on %(day)s, together with your %(points)s unspent "
                "points. To keep your account and your points, simply log in or shop with us "
                "before then."
            )
            % names,
        )
    if kind == NotificationKind.LINK_REQUEST:
        names = {"partner": p["partner"]}
        return Message(
            _("%(partner)s asks to link your customer account") % names,
            _(
                "%(partner)s has given your e-mail address for a customer there. If that is "
                'you, confirm it under "Linked partners" in the portal: your points there '
                "are then added to your account, and %(partner)s sees your membership in its "
                "programs. If it is not you, decline it; %(partner)s learns nothing about you."
            )
            % names,
        )
    raise ValueError(f"unknown notification kind {kind!r}")


def _occasion_message(p: dict) -> Message:
    names = {"program": p["program"], "points": _number(p["points"])}
    if p["occasion"] == "birthday":
        return Message(
            _("Happy birthday!"),
            _(
                "%(program)s gives you %(points)s points for your birthday. "
                "They are in your account now."
            )
            % names,
        )
    years = p["years"]
    return Message(
        ngettext(
            "Thank you for %(years)s year with us!",
            "Thank you for %(years)s years with us!",
            years,
        )
        % {"years": years},
        _(
            "%(program)s gives you %(points)s points for your membership anniversary. "
            "They are in your account now."
        )
        % names,
    )


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def notification_email_links(notification: "Notification") -> EmailLinks:
    """The portal link (of the notification's program), the voucher's page for a redeemed
    reward, and, for the kinds a customer may switch off, the one-click unsubscribe link."""
    customer = notification.customer
    membership = notification.membership
    links = email_links(
        customer_id=customer.pk,
        language=customer.language or "de",
        topic=EMAIL_SWITCH.get(notification.kind),
        voucher_id=notification.params.get("redemption_id"),
        program_slug=membership.program.slug if membership is not None else "",
    )
    if notification.kind == NotificationKind.LINK_REQUEST:  # straight to the answer
        language = customer.language or "de"
        links = replace(links, portal=site_url("portal:links", language=language))
    return links


def notification_email_render(
    notification: "Notification", links: EmailLinks | None = None
) -> RenderedEmail:
    """Subject, text and HTML of the e-mail, in the customer's language, with ``links``
    (``notification_email_links`` if not given)."""
    customer = notification.customer
    links = links or notification_email_links(notification)
    with translation.override(customer.language or "de"):
        message = notification_message(notification)
        context = {
            "customer": customer,
            "message": message,
            "notification": notification,
            "links": links,
        }
        subject = render_to_string("notifications/email/subject.txt", context)
        text = render_to_string("notifications/email/message.txt", context)
        html = render_to_string("notifications/email/message.html", context)
    return RenderedEmail(" ".join(subject.split()), text, html)
