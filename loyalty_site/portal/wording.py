"""What the portal says, in the member's words: ledger entries, the gap to the next tier,
referral states and domain errors. Numbers and money are formatted for the active locale."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone
from django.utils.formats import date_format, number_format
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
    if entry.kind == EntryKind.MERGE_IN:
        return _("Points from your account at a partner, after you confirmed the link")
    if entry.kind == EntryKind.MERGE_OUT:
        return _("Points moved to your main account")
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


@dataclass(frozen=True)
class Step:
    """One step of a referral's timeline: ``state`` is done, current, todo or failed."""

    state: str
    title: str
    when: str = ""


def _on(moment) -> str:
    return _("on %(date)s") % {"date": date_format(timezone.localtime(moment), "DATE_FORMAT")}


def _purchase_step(timeline, *, mine: bool) -> Step | None:
    if timeline.purchased_at is not None:
        title = _("Your first purchase") if mine else _("First purchase")
        return Step("done", title, _on(timeline.purchased_at))
    if timeline.status == ReferralStatus.REJECTED:
        return None
    if timeline.min_purchase > 0:
        names = {"amount": money_text(timeline.min_purchase, timeline.currency)}
        title = (
            _("Your first purchase of at least %(amount)s")
            if mine
            else _("First purchase of at least %(amount)s")
        ) % names
    else:
        title = _("Your first purchase") if mine else _("First purchase")
    return Step("todo", title, _("not yet"))


def referrer_steps(timeline) -> list[Step]:
    """The referrer's view of one friend: joined, first purchase, the referrer's reward."""
    status = timeline.status
    points = {"points": points_text(timeline.points)}
    steps = [Step("done", _("Joined through your invitation"), _on(timeline.joined_at))]
    if purchase := _purchase_step(timeline, mine=False):
        steps.append(purchase)
    if status == ReferralStatus.REVIEW:
        steps.append(Step("current", _("Our team is checking this referral")))
    if status == ReferralStatus.REWARDED:
        earned = {"points": points_text(timeline.points_earned or timeline.points)}
        steps.append(
            Step("done", _("You received %(points)s points") % earned, _on(timeline.rewarded_at))
        )
    elif status == ReferralStatus.REJECTED:
        steps.append(
            Step("failed", _("Not rewarded"), rejection_text(timeline.referral.rejection_reason))
        )
    elif timeline.expected_at is not None:
        when = _("expected %(on_date)s, after the return window") % {
            "on_date": _on(timeline.expected_at)
        }
        if status == ReferralStatus.REVIEW:
            when = _("expected %(on_date)s, once our team has checked it") % {
                "on_date": _on(timeline.expected_at)
            }
        state = "current" if status == ReferralStatus.QUALIFIED else "todo"
        steps.append(Step(state, _("%(points)s points for you") % points, when))
    elif timeline.pending_days:
        when = _("%(days)s days after your friend's first purchase") % {
            "days": timeline.pending_days
        }
        steps.append(Step("todo", _("%(points)s points for you") % points, when))
    else:
        steps.append(
            Step(
                "todo",
                _("%(points)s points for you") % points,
                _("with your friend's first purchase"),
            )
        )
    return steps


def referee_steps(timeline) -> list[Step]:
    """The invited friend's view: who invited her and when, her first purchase, her bonus."""
    status = timeline.status
    invited = _("%(name)s invited you") % {"name": timeline.other_name}
    steps = [Step("done", invited, _on(timeline.joined_at))]
    if purchase := _purchase_step(timeline, mine=True):
        steps.append(purchase)
    points = {"points": points_text(timeline.points_earned or timeline.points)}
    if status == ReferralStatus.REJECTED:
        if timeline.referral.rejection_reason == "qualifying purchase returned":
            why = _("Your first purchase was returned.")
        else:
            why = _("This invitation does not qualify for a welcome bonus.")
        steps.append(Step("failed", _("No welcome bonus"), why))
    elif timeline.rewarded_at is not None:
        steps.append(
            Step(
                "done", _("%(points)s welcome points credited") % points, _on(timeline.rewarded_at)
            )
        )
    elif status == ReferralStatus.REVIEW:
        steps.append(Step("current", _("Our team is checking this referral")))
        steps.append(
            Step("todo", _("%(points)s welcome points") % points, _("right after the check"))
        )
    else:
        steps.append(
            Step(
                "todo",
                _("%(points)s welcome points") % points,
                _("credited with your first purchase"),
            )
        )
    return steps


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
