"""How many points a purchase earns: a pure calculation over the program's rules.

Per line: ``base = line amount x points per unit x tier multiplier``. A SKU rule beats a
category rule; an excluded line earns nothing and takes no campaign bonus.

* **stack**: the line earns ``base x rule multiplier``, and every matching campaign adds
  ``base x rule multiplier x (campaign multiplier - 1)`` on top (bonuses add up).
* **best of**: only the single highest multiplier among the rule and the campaigns counts;
  when a campaign wins, the line earns ``base`` plus ``base x (multiplier - 1)`` as that
  campaign's bonus.

A campaign applies to the lines it names (categories or SKUs; none: every line) when the
purchase falls in its window, weekdays and hours and its qualifying lines reach its minimum
spend (``programs.campaign_rules``; the caller has already checked the member). A fixed
bonus adds its points once per purchase, whatever the rule combination, shared over the
qualifying lines by amount.

The base points are rounded once per purchase (down or half-up, a program setting); each
campaign's bonus is rounded down and cut to what ``cap_left`` allows (per member, per day
and budget, as the caller computed it).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from programs.campaign_rules import CampaignTerms, line_matches, times_match
from programs.models import EarnRule, Program, Rounding, RuleCombination

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


def rule_for(line: LineInput, rules: Sequence[EarnRule]) -> EarnRule | None:
    if line.sku:
        for rule in rules:
            if rule.sku and rule.sku == line.sku:
                return rule
    if line.category:
        for rule in rules:
            if not rule.sku and rule.category == line.category:
                return rule
    return None


def running_campaigns(campaigns: Iterable[CampaignTerms], at: datetime) -> list[CampaignTerms]:
    return [c for c in campaigns if times_match(c, at)]


def purchase_points(
    *,
    program: Program,
    amount: Decimal,
    lines: Sequence[LineInput],
    occurred_at: datetime,
    tier_multiplier: Decimal = Decimal(1),
    rules: Sequence[EarnRule] = (),
    campaigns: Sequence[CampaignTerms] = (),
    cap_left: Mapping[int, int | None] | None = None,
) -> Breakdown:
    """Points for one purchase. ``cap_left`` maps a capped campaign to the bonus the member
    may still get from it (None or missing: uncapped)."""
    lines = list(lines) or [LineInput(amount=amount)]
    if amount < program.min_purchase_amount:
        return Breakdown(line_points=[ZERO] * len(lines), below_minimum=True)
    rules = [r for r in rules if r.is_active]
    stack = program.rule_combination == RuleCombination.STACK
    line_rules = [rule_for(line, rules) for line in lines]
    earning = [rule is None or not rule.excluded for rule in line_rules]
    running = [
        c for c in running_campaigns(campaigns, occurred_at) if _spend_reached(c, lines, earning)
    ]
    multipliers = [c for c in running if not c.fixed]
    line_base: list[Decimal] = []
    line_bonus: list[dict[int, Decimal]] = []
    for line, rule, earns in zip(lines, line_rules, earning, strict=True):
        bonuses: dict[int, Decimal] = {}
        line_bonus.append(bonuses)
        if not earns:
            line_base.append(ZERO)
            continue
        base = line.amount * program.points_per_unit * tier_multiplier
        factor = rule.multiplier if rule is not None else Decimal(1)
        matching = [c for c in multipliers if line_matches(c, line.category, line.sku)]
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
    for campaign in running:
        if campaign.fixed:
            _share_fixed(campaign, lines, earning, line_bonus)

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


def _qualifying(campaign: CampaignTerms, lines, earning) -> list[int]:
    return [
        n
        for n, (line, earns) in enumerate(zip(lines, earning, strict=True))
        if earns and line_matches(campaign, line.category, line.sku)
    ]


def _spend_reached(campaign: CampaignTerms, lines, earning) -> bool:
    qualifying = _qualifying(campaign, lines, earning)
    if not qualifying:
        return False
    if campaign.min_spend is None:
        return True
    return sum((lines[n].amount for n in qualifying), ZERO) >= campaign.min_spend


def _share_fixed(campaign: CampaignTerms, lines, earning, line_bonus) -> None:
    """A fixed bonus on the qualifying lines, shared by amount (equally when all are 0)."""
    qualifying = _qualifying(campaign, lines, earning)
    total = sum((lines[n].amount for n in qualifying), ZERO)
    points, given = Decimal(campaign.bonus_points), ZERO
    for n in qualifying[:-1]:
        share = lines[n].amount / total if total else Decimal(1) / len(qualifying)
        line_bonus[n][campaign.pk] = (points * share).quantize(SHARE)
        given += line_bonus[n][campaign.pk]
    line_bonus[qualifying[-1]][campaign.pk] = points - given  # the shares add up exactly
