"""A program and a partner in it for a fresh database, with the defaults the engine expects."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from programs.models import ActionRule, LimitPeriod, Partner, Program, Reward, Tier

# (name, qualifying spend, earn multiplier): the base tier starts at 0, as enrollment expects.
DEFAULT_TIERS = [
    ("Bronze", Decimal(0), Decimal(1)),
    ("Silber", Decimal(500), Decimal("1.25")),
    ("Gold", Decimal(1500), Decimal("1.5")),
]
# (code, name, points, limit): the actions the API quick start posts, once per member each.
DEFAULT_ACTIONS = [
    ("anmeldung", "Anmeldung", 100, 1),
    ("bewertung", "Bewertung", 50, 1),
]
DEFAULT_REWARD = ("Gutschein 5 €", 150)
# A program set up for trying the API accepts the orders of the past year, as one moved in
# from another system would (the walk-throughs post an order from three weeks ago).
HISTORY_DAYS = 365


@dataclass(frozen=True)
class PartnerSetup:
    program: Program
    partner: Partner
    program_created: bool
    partner_created: bool


@transaction.atomic
def partner_program_setup(
    *,
    program_slug: str,
    program_name: str,
    partner_slug: str,
    partner_name: str,
    currency: str,
) -> PartnerSetup:
    """Create the program (tiers Bronze/Silber/Gold, the actions `anmeldung` and `bewertung`,
    one reward) and the partner taking part in it. What exists already is kept as it is,
    so running it again with the same slugs changes nothing."""
    program, program_created = Program.objects.get_or_create(
        slug=program_slug,
        defaults={
            "name": program_name,
            "currency": currency,
            "history_starts_on": timezone.localdate() - timedelta(days=HISTORY_DAYS),
        },
    )
    if program_created:
        Tier.objects.bulk_create(
            Tier(program=program, name=name, rank=rank, threshold=threshold, earn_multiplier=factor)
            for rank, (name, threshold, factor) in enumerate(DEFAULT_TIERS)
        )
        ActionRule.objects.bulk_create(
            ActionRule(
                program=program,
                code=code,
                name=name,
                points=points,
                limit_count=limit,
                limit_period=LimitPeriod.LIFETIME,
            )
            for code, name, points, limit in DEFAULT_ACTIONS
        )
        reward_name, cost = DEFAULT_REWARD
        Reward.objects.create(program=program, name=reward_name, points_cost=cost)
    partner, partner_created = Partner.objects.get_or_create(
        slug=partner_slug, defaults={"name": partner_name}
    )
    partner.programs.add(program)
    return PartnerSetup(program, partner, program_created, partner_created)
