"""How many points a purchase earns: a pure calculation over the program's rules.

Per line: ``base = line amount x points per unit x tier multiplier``. A SKU rule beats a
category rule; an excluded line earns nothing and takes no campaign bonus.

* **stack**: the line earns ``base x rule multiplier``, and every matching campaign adds
  ``base x rule multiplier x (campaign multiplier - 1)`` on top (bonuses add up).
* **best of**: only the single highest multiplier among the rule and the campaigns counts;
  when a campaign wins, the line earns ``base`` plus ``base x (multiplier - 1)`` as that
  campaign's bonus.

The base points are rounded once per purchase (down or half-up, a program setting); each
campaign's bonus is rounded down and cut to what is left of its per-member cap.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from programs.models import Campaign, EarnRule, Program, Rounding, RuleCombination

ZERO = Decimal(0)
SHARE = Decimal("0.0001")


@dataclass(frozen=True)
class LineInput:
    amount: Decimal
    category: str = ""
    sku: str = ""


@dataclass
class Breakdown:
    base_points: int = 0
    campaign_points: dict[int, int] = field(default_factory=dict)
    line_points: list[Decimal] = field(default_factory=list)
    below_minimum: bool = False

    @property
    def total(self) -> int:
        return self.base_points + sum(self.campaign_points.values())

    def as_json(self) -> dict:
        return {
            "base_points": self.base_points,
            "campaign_points": {str(k): v for k, v in self.campaign_points.items()},
            "below_minimum": self.below_minimum,
            "total": self.total,
        }


def _round(value: Decimal, rounding: str) -> int:
    mode = ROUND_HALF_UP if rounding == Rounding.NEAREST else ROUND_DOWN
    return int(value.quantize(Decimal(1), rounding=mode))


def _rule_for(line: LineInput, rules: Sequence[EarnRule]) -> EarnRule | None:
    if line.sku:
        for rule in rules:
            if rule.sku and rule.sku == line.sku:
                return rule
    if line.category:
        for rule in rules:
            if not rule.sku and rule.category == line.category:
                return rule
    return None


def active_campaigns(campaigns: Iterable[Campaign], at: datetime) -> list[Campaign]:
    return [c for c in campaigns if c.is_active and c.starts_at <= at < c.ends_at]


def purchase_points(
    *,
    program: Program,
    amount: Decimal,
    lines: Sequence[LineInput],
    occurred_at: datetime,
    tier_multiplier: Decimal = Decimal(1),
    rules: Sequence[EarnRule] = (),
    campaigns: Sequence[Campaign] = (),
    cap_left: Mapping[int, int | None] | None = None,
) -> Breakdown:
    """Points for one purchase. ``cap_left`` maps a capped campaign to the bonus the member
    may still get from it (None or missing: uncapped)."""
    lines = list(lines) or [LineInput(amount=amount)]
    if amount < program.min_purchase_amount:
        return Breakdown(line_points=[ZERO] * len(lines), below_minimum=True)
    rules = [r for r in rules if r.is_active]
    running = active_campaigns(campaigns, occurred_at)
    stack = program.rule_combination == RuleCombination.STACK
    line_base: list[Decimal] = []
    line_bonus: list[dict[int, Decimal]] = []
    for line in lines:
        rule = _rule_for(line, rules)
        bonuses: dict[int, Decimal] = {}
        if rule is not None and rule.excluded:
            line_base.append(ZERO)
            line_bonus.append(bonuses)
            continue
        base = line.amount * program.points_per_unit * tier_multiplier
        factor = rule.multiplier if rule is not None else Decimal(1)
        matching = [c for c in running if not c.category or c.category == line.category]
        if stack:
            line_base.append(base * factor)
            for campaign in matching:
                bonuses[campaign.pk] = base * factor * (campaign.multiplier - 1)
        else:
            best = max(matching, key=lambda c: c.multiplier, default=None)
            if best is not None and best.multiplier > factor:
                line_base.append(base)
                bonuses[best.pk] = base * (best.multiplier - 1)
            else:
                line_base.append(base * factor)
        line_bonus.append(bonuses)

    breakdown = Breakdown(base_points=_round(sum(line_base, ZERO), program.rounding))
    raw_bonus: dict[int, Decimal] = {}
    for bonuses in line_bonus:
        for campaign_id, value in bonuses.items():
            raw_bonus[campaign_id] = raw_bonus.get(campaign_id, ZERO) + value
    granted_share: dict[int, Decimal] = {}
    for campaign_id, value in raw_bonus.items():
        points = int(value.to_integral_value(rounding=ROUND_DOWN))
        left = (cap_left or {}).get(campaign_id)
        if left is not None:
            points = max(0, min(points, left))
        if points:
            breakdown.campaign_points[campaign_id] = points
        granted_share[campaign_id] = Decimal(points) / value if value else ZERO
    breakdown.line_points = [
        (base + sum((v * granted_share[c] for c, v in bonuses.items()), ZERO)).quantize(SHARE)
        for base, bonuses in zip(line_base, line_bonus, strict=True)
    ]
    return breakdown
