"""What-if for new tier thresholds, and optionally another qualification window or metric.

The program's awarded purchases of the last N months are replayed in the order they
happened, twice from the same starting state: with the rules as they are and with the
proposed ones (``programs.what_if.replay``). The result: per tier how many members end
the period in it on each side, who moves from which tier to which (up or down), the
points each side issues (the tier multiplier changes them, and with the points metric the
points change the tiers) and the difference as money at the program's point value.

**Starting state.** Every member starts the period in the tier that no figures support
(the lowest qualified tier, as on enrolment) with empty qualifying figures, on both sides,
and is upgraded by the purchases of the period as they are replayed, each at its own time
with the program's window ending then. With the default 12 months and a 12-month rolling
window, a member ends in the tier their figures of the last 12 months support. Purchases
before the period do not count in the figures. The period's end is when the run starts.

What the proposal does not change is taken as it is: staff tier overrides and paid
subscriptions as they stand now (with their end dates; they win as ``effective_tier``
says), the earn rules and active campaigns (budgets and caps as used before the period,
fixed audiences, who bought before: first-purchase campaigns). Not replayed: returns
(a returned purchase counts as it was awarded), period-end reviews (downgrades), referral
and action points. Members who bought nothing in the period are not counted.
"""

import copy
from collections import Counter
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.translation import gettext as _

from programs.models import Program, Tier, TierKind, TierMetric, TierWindow
from programs.services.tier_figures import tier_rank
from programs.what_if.loading import facts_load, period_of, rules_now
from programs.what_if.purchases import purchases_stream
from programs.what_if.replay import replay
from programs.what_if.side import Rules, Side
from programs.what_if.summary import InvalidProposal, money_data, period_data


def tier_proposal_clean(program: Program, proposal: dict) -> dict:
    """The proposal checked against the program, JSON-ready: ``thresholds`` (qualified
    tier id -> threshold; tiers left out keep theirs), ``tier_window``, ``tier_metric``."""
    tiers = set(program.tiers.filter(kind=TierKind.QUALIFIED).values_list("pk", flat=True))
    thresholds = {}
    for key, value in (proposal.get("thresholds") or {}).items():
        try:
            pk, threshold = int(key), Decimal(str(value))
        except (ValueError, InvalidOperation):
            raise InvalidProposal(_("A threshold is not a number.")) from None
        if pk not in tiers:
            raise InvalidProposal(
                _("Tier %(tier)s is no qualified tier of this program.") % {"tier": pk}
            )
        if not threshold.is_finite() or threshold < 0:
            raise InvalidProposal(_("A threshold must be zero or more."))
        thresholds[str(pk)] = str(threshold)
    window = proposal.get("tier_window") or program.tier_window
    metric = proposal.get("tier_metric") or program.tier_metric
    if window not in TierWindow.values or metric not in TierMetric.values:
        raise InvalidProposal(_("Unknown qualification window or metric."))
    return {"thresholds": thresholds, "tier_window": window, "tier_metric": metric}


def rules_proposed(current: Rules, proposal: dict) -> Rules:
    """A copy of ``current`` with the proposal applied to copies of the program and tiers."""
    program = copy.copy(current.program)
    program.tier_window = proposal["tier_window"]
    program.tier_metric = proposal["tier_metric"]
    tiers = {}
    for pk, tier in current.tiers.items():
        tiers[pk] = copy.copy(tier)
        if str(pk) in proposal["thresholds"]:
            tiers[pk].threshold = Decimal(proposal["thresholds"][str(pk)])
    return Rules(program, tiers, current.rules, current.campaigns, current.budget_left)


def what_if_tiers(
    program: Program,
    proposal: dict,
    months: int,
    *,
    now: datetime | None = None,
    progress=None,
) -> dict:
    """Replay the last ``months`` months with the proposal (``tier_proposal_clean``'s
    form); the result as JSON-ready data. ``progress(done, total)``: see the stream."""
    start, end = period_of(months, now or timezone.now())
    current = rules_now(program, start, end)
    proposed = rules_proposed(current, proposal)
    facts = facts_load(program, start, end, current.campaigns)
    now_side, new_side = Side(current, facts), Side(proposed, facts)
    replayed = replay(purchases_stream(program.pk, start, end, progress), now_side, new_side)
    return {
        "kind": "tiers",
        "period": period_data(start, end, months),
        "purchases": replayed,
        "members": len(now_side.standings),
        "window": {"now": program.tier_window, "proposed": proposed.program.tier_window},
        "metric": {"now": program.tier_metric, "proposed": proposed.program.tier_metric},
        **_tier_moves(current, proposed, now_side.end_tiers(), new_side.end_tiers()),
        "points_now": now_side.points,
        "points_proposed": new_side.points,
        "points_difference": new_side.points - now_side.points,
        **money_data(program, new_side.points - now_side.points),
    }


def _tier_moves(current: Rules, proposed: Rules, now_tiers: dict, new_tiers: dict) -> dict:
    """Members per tier on both sides, and the moves between them (tier by tier)."""
    now_count = Counter(_pk(t) for t in now_tiers.values())
    new_count = Counter(_pk(t) for t in new_tiers.values())
    moves = Counter((_pk(now_tiers[m]), _pk(new_tiers[m])) for m in now_tiers)
    rows = []
    for tier in sorted(current.tiers.values(), key=tier_rank):
        if tier.kind != TierKind.QUALIFIED and not (now_count[tier.pk] or new_count[tier.pk]):
            continue
        rows.append(_tier_row(tier, proposed.tiers[tier.pk], now_count, new_count))
    if now_count[None] or new_count[None]:
        rows.insert(0, _tier_row(None, None, now_count, new_count))
    ranks = {pk: tier.rank for pk, tier in current.tiers.items()}
    moved = []
    for (old, new), members in sorted(moves.items(), key=lambda item: -item[1]):
        if old == new:
            continue
        up = ranks.get(new, -1) > ranks.get(old, -1)
        moved.append({
            "from_id": old,
            "from": _name(current.tiers.get(old)),
            "to_id": new,
            "to": _name(current.tiers.get(new)),
            "members": members,
            "direction": "up" if up else "down",
        })  # fmt: skip
    return {
        "tiers": rows,
        "moves": moved,
        "moved_up": sum(m["members"] for m in moved if m["direction"] == "up"),
        "moved_down": sum(m["members"] for m in moved if m["direction"] == "down"),
    }


def _tier_row(tier: Tier | None, proposed: Tier | None, now_count, new_count) -> dict:
    pk = _pk(tier)
    return {
        "id": pk,
        "name": _name(tier),
        "threshold_now": str(tier.threshold) if tier else None,
        "threshold_proposed": str(proposed.threshold) if proposed else None,
        "members_now": now_count[pk],
        "members_proposed": new_count[pk],
        "difference": new_count[pk] - now_count[pk],
    }


def _pk(tier: Tier | None) -> int | None:
    return tier.pk if tier is not None else None


def _name(tier: Tier | None) -> str | None:
    return tier.name if tier is not None else None  # None: no tier (the page says so)
