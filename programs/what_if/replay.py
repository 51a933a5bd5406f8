"""The replay: purchases run through two copies of a program's rules side by side (now
and proposed, or without and with a draft campaign), each member followed on each side.

Every purchase is computed as the award path computes it (``programs.services.awarding``),
with the same pure pieces: the campaigns that reach the member (``campaign_rules.reaches``),
their caps and budget (``award_reading.Member.cap_left``), the points
(``earning.purchase_points``) with the tier's multiplier, and after it the upgrade rule
(``tiers.qualified_tier_raise``, ``tiers.effective_tier``) on the qualifying figures of the
program's window at the purchase's time (``tier_figures.qualification_window``): each
purchase is replayed as if it were awarded when it happened.

Speed (a million purchases in well under a minute, ``make bench``): where both sides
would compute the same thing (same multiplier, campaigns and caps: most purchases, as long
as a member's tier is the same on both sides) the calculator runs once. In "stack" mode a
campaign's bonus is added on top of everything else, so the side without a draft campaign
is the side with it less its bonus: the calculator runs once there too. Both sides share a
member's figures when they count the same (spend, same window). The campaigns running are
found about once an hour of purchases, not for each (``Side._running_at``).
"""

import gc
from collections.abc import Iterable
from contextlib import contextmanager

from programs.earning import Breakdown
from programs.models import RuleCombination
from programs.what_if.purchases import Replayed
from programs.what_if.side import Side


def _without(a: tuple, b: tuple, draft_id: int) -> bool:
    """``a`` is ``b`` without the draft campaign: same multiplier, campaigns and caps."""
    if a[0] != b[0] or not any(c.pk == draft_id for c in b[1]):
        return False
    others = [c for c in b[1] if c.pk != draft_id]
    caps = {k: v for k, v in b[2].items() if k != draft_id}
    return others == list(a[1]) and caps == (a[2] or {})


@contextmanager
def _without_cycle_collection():
    """The replay keeps a few objects per member alive to its end and makes no garbage
    cycles: the cyclic collector, run every few hundred allocations over the whole heap,
    only cost time (a sixth of it)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def replay(
    purchases: Iterable[Replayed], now_side: Side, other: Side, *, draft_id: int | None = None
) -> int:
    """Replay ``purchases`` (in time order) on both sides; returns how many. ``draft_id``:
    a campaign only ``other`` has (the campaign what-if)."""
    with _without_cycle_collection():
        return _replay(purchases, now_side, other, draft_id)


def _replay(purchases, now_side: Side, other: Side, draft_id: int | None) -> int:
    a, b = now_side, other
    stack = a.program.rule_combination == RuleCombination.STACK
    shared = a.counts_like(b)  # one set of figures per member for both sides
    find_a, find_b = a.standings.get, b.standings.get
    plain_a, plain_b = not a.campaigns, not b.campaigns
    count = 0
    for p in purchases:
        count += 1
        member_id = p.membership_id
        st_a = find_a(member_id) or a.standing_new(member_id)
        st_b = find_b(member_id) or b.standing_new(member_id, st_a.figures if shared else None)
        in_a = st_a.plain if plain_a and not st_a.has_extras else a.inputs(st_a, p)
        in_b = st_b.plain if plain_b and not st_b.has_extras else b.inputs(st_b, p)
        if in_a == in_b:
            points_b = points_a = a.points_of(p, in_a)
            if not points_a.campaign_points and st_a.member is None and st_b.member is None:
                total_b = total_a = points_a.base_points  # ``book``, for the common case
                a.points += total_a
                b.points += total_b
                _upgrade(a, b, st_a, st_b, p, total_a, total_b, shared)
                continue
        elif stack and draft_id is not None and _without(in_a, in_b, draft_id):
            points_b = b.points_of(p, in_b)
            points_a = Breakdown(
                base_points=points_b.base_points,
                campaign_points={
                    k: v for k, v in points_b.campaign_points.items() if k != draft_id
                },
            )
        else:
            points_a, points_b = a.points_of(p, in_a), b.points_of(p, in_b)
        total_a = a.book(st_a, p, points_a, in_a[3])
        total_b = b.book(st_b, p, points_b, in_b[3])
        _upgrade(a, b, st_a, st_b, p, total_a, total_b, shared)
    return count


def _upgrade(a: Side, b: Side, st_a, st_b, p: Replayed, total_a, total_b, shared) -> None:
    """After the points: the figures (once, if both sides count the same) and the upgrade
    rule on each side still below its top tier."""
    if shared:
        if st_a.rising or st_b.rising:
            value = a.figures_add(st_a.figures, p, total_a)
            if st_a.rising:
                a.upgrade_check(st_a, value, p.occurred_at)
            if st_b.rising:
                b.upgrade_check(st_b, value, p.occurred_at)
        return
    if st_a.rising:
        a.upgrade_check(st_a, a.figures_add(st_a.figures, p, total_a), p.occurred_at)
    if st_b.rising:
        b.upgrade_check(st_b, b.figures_add(st_b.figures, p, total_b), p.occurred_at)
