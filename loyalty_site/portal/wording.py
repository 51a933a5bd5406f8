"""What the portal says, in the member's words: ledger entries, the gap to the next tier,
referral states and domain errors. Numbers and money are formatted for the active locale."""

from decimal import Decimal

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from programs.errors import LoyaltyError
from programs.models import EntryKind, EntrySource, LedgerEntry, ReferralStatus, TierMetric
from programs.selectors import TierProgress


def points_text(points: int) -> str:
    return number_format(points, decimal_pos=0, use_l10n=True, force_grouping=True)


def money_text(amount: Decimal, currency: str) -> str:
    figure = number_format(amount, decimal_pos=2, use_l10n=True, force_grouping=True)
    return f"{figure}\u00a0{currency}"


def tier_gap_text(progress: TierProgress, currency: str) -> str:
    """ "Noch 120,00 EUR Umsatz bis Gold" / "120.00 EUR more to reach Gold"."""
    if progress.next_tier is None or progress.gap is None:
        return _("You have reached the highest tier.")
    if progress.gap <= 0:
        return _("You qualify for %(tier)s: it is applied with your next activity.") % {
            "tier": progress.next_tier.name
        }
    if progress.metric == TierMetric.POINTS:
        return _("%(points)s more points to reach %(tier)s") % {
            "points": points_text(int(progress.gap)),
            "tier": progress.next_tier.name,
        }
    return _("%(amount)s more to reach %(tier)s") % {
        "amount": money_text(progress.gap, currency),
        "tier": progress.next_tier.name,
    }


def qualifying_text(progress: TierProgress, currency: str) -> str:
    if progress.metric == TierMetric.POINTS:
        return _("%(points)s points") % {"points": points_text(int(progress.qualifying_value))}
    return money_text(progress.qualifying_value, currency)


def entry_text(entry: LedgerEntry) -> str:
    """One line of the history as the member understands it."""
    order = entry.purchase.order_id if entry.purchase_id else ""
    reward = entry.redemption.reward.name if entry.redemption_id else ""
    if entry.kind == EntryKind.EARN:
        if entry.purchase_id:
            return _("Earned for order %(order)s") % {"order": order}
        if entry.action_event_id:
            return _("Earned for: %(action)s") % {"action": entry.action_event.rule.name}
        if entry.referral_id:
            if entry.referral.referee_id == entry.membership_id:
                return _("Welcome bonus for joining through a friend")
            return _("Bonus for referring a friend")
        if entry.source == EntrySource.STAFF:
            return _("Points from our team")
        if entry.source == EntrySource.OCCASION:
            if entry.idempotency_key.startswith("birthday:"):
                return _("Happy birthday! Your birthday bonus")
            return _("Thank you for your loyalty: anniversary bonus")
        return _("Bonus points")
    if entry.kind == EntryKind.RELEASE:
        if order:
            return _("Points for order %(order)s are now available") % {"order": order}
        return _("Pending points are now available")
    if entry.kind == EntryKind.REDEEM:
        return _("Redeemed for %(reward)s") % {"reward": reward}
    if entry.kind == EntryKind.REDEEM_CANCEL:
        return _("Redemption of %(reward)s cancelled, points returned") % {"reward": reward}
    if entry.kind == EntryKind.EXPIRE:
        return _("Points expired")
    if entry.kind == EntryKind.REVERSE:
        if order:
            return _("Returned: order %(order)s") % {"order": order}
        return _("Points taken back after a return")
    if entry.hold_id:
        return payment_text(entry)
    return _("Correction by our team")


def bonus_text(bonuses: list[dict]) -> str:
    """ "incl. 40 bonus points from Röstfrisch-Wochen" for a purchase's campaign bonuses."""
    return "; ".join(
        _("incl. %(points)s bonus points from %(campaign)s")
        % {"points": points_text(b["points"]), "campaign": b["campaign"]}
        for b in bonuses
    )


def payment_text(entry: LedgerEntry) -> str:
    """Paying with points at a shop: reserved, paid, released, given back."""
    order = entry.hold.order_reference
    texts = {
        EntryKind.HOLD: (
            _("Points reserved for a payment"),
            _("Points reserved for order %(order)s"),
        ),
        EntryKind.CAPTURE: (_("Paid with points"), _("Paid with points: order %(order)s")),
        EntryKind.HOLD_RELEASE: (
            _("Reserved points released"),
            _("Reserved points released: order %(order)s"),
        ),
        EntryKind.CAPTURE_REFUND: (
            _("Points back for a return"),
            _("Points back for a return: order %(order)s"),
        ),
    }
    plain, with_order = texts[entry.kind]
    return with_order % {"order": order} if order else plain


# History filter: what a member looks for, mapped to ledger kinds.
HISTORY_KINDS = {
    "earned": (gettext_lazy("Earned"), [EntryKind.EARN, EntryKind.RELEASE]),
    "redeemed": (gettext_lazy("Redeemed"), [EntryKind.REDEEM, EntryKind.REDEEM_CANCEL]),
    "expired": (gettext_lazy("Expired"), [EntryKind.EXPIRE]),
    "returned": (gettext_lazy("Returned"), [EntryKind.REVERSE]),
    "adjusted": (gettext_lazy("Corrections"), [EntryKind.ADJUST]),
    "paid": (
        gettext_lazy("Paid with points"),
        [EntryKind.HOLD, EntryKind.HOLD_RELEASE, EntryKind.CAPTURE, EntryKind.CAPTURE_REFUND],
    ),
}

REFERRAL_STATUS = {
    ReferralStatus.SIGNED_UP: gettext_lazy("Signed up"),
    ReferralStatus.REVIEW: gettext_lazy("Being checked"),
    ReferralStatus.QUALIFIED: gettext_lazy("Purchased"),
    ReferralStatus.REWARDED: gettext_lazy("Rewarded"),
    ReferralStatus.REJECTED: gettext_lazy("Not rewarded"),
}

_REJECTION_REASONS = {
    "self_referral_email": gettext_lazy("You cannot refer yourself."),
    "referral_loop": gettext_lazy("This friend referred you."),
    "friend_not_new": gettext_lazy("Your friend was already a customer."),
    "referrer_cap_reached": gettext_lazy("You reached the limit of rewarded referrals."),
    "qualifying purchase returned": gettext_lazy("Your friend returned the purchase."),
}


def rejection_text(reason: str) -> str:
    codes = [code.strip() for code in reason.split(",") if code.strip()]
    known = [str(_REJECTION_REASONS[code]) for code in codes if code in _REJECTION_REASONS]
    return " ".join(known) or _("Our team checked this referral and could not reward it.")


_ERRORS = {
    "insufficient_points": gettext_lazy("You do not have enough points for this reward yet."),
    "negative_balance": gettext_lazy(
        "Points are still owed from a return; collect them again before redeeming."
    ),
    "reward_unavailable": gettext_lazy("This reward is not available right now."),
    "out_of_stock": gettext_lazy("Sorry, this reward is out of stock."),
    "tier_too_low": gettext_lazy("This reward needs a higher tier."),
    "redemption_limit_reached": gettext_lazy(
        "You have already redeemed this reward as often as allowed."
    ),
    "redemption_not_cancellable": gettext_lazy("Only an unused voucher can be cancelled."),
    "membership_inactive": gettext_lazy("Your membership in this program is not active."),
}


def error_text(error: LoyaltyError) -> str:
    return str(_ERRORS.get(error.code, error.default_message))
