"""What happens after the history: subscriptions bought and a tier set by staff on the
day the demo is loaded, and the rewards members redeemed over the past year, each dated
on a day the member came by to buy."""

from datetime import datetime, timedelta

from dateutil.relativedelta import relativedelta

from loyalty_site.demo.history import DemoHistory
from loyalty_site.demo.shopper import Shopper
from programs.errors import LoyaltyError
from programs.models import Membership, Purchase, Redemption, Reward
from programs.services.ledger import Actor
from programs.services.rewards import redemption_cancel, redemption_mark_used, reward_redeem
from programs.services.subscriptions import tier_subscription_buy
from programs.services.tiers import membership_tier_override

REDEEM_CHANCE = {"stamm": 0.6, "vielkaeufer": 0.8, "gelegentlich": 0.2, "neu": 0.1}
VIP_REASON = "Markenbotschaft für die Wintermischung: Platin für die Dauer der Kooperation"


def subscriptions_buy(history: DemoHistory) -> list[Shopper]:
    """A few regulars buy "Kaffee-Abo Plus"; two of them pay a second month ahead."""
    setup, rng = history.setup, history.rng
    regulars = [s for s in history.shoppers if s.profile == "stamm" and s is not history.anna]
    chosen = rng.sample(regulars, min(len(regulars), max(2, len(history.shoppers) // 50)))
    for number, shopper in enumerate(chosen, 1):
        for month in (1, 2) if number <= 2 else (1,):
            tier_subscription_buy(
                membership=shopper.membership,
                tier=setup.subscription,
                partner=setup.webshop,
                order_id=f"ABO-{number:04d}-{month}",
            )
    return chosen


def vip_override(history: DemoHistory, *, exclude: list[Shopper]) -> None:
    """Staff make one customer Platin by hand for six months (audited)."""
    candidates = [
        s
        for s in history.shoppers
        if s.profile in ("stamm", "gelegentlich") and s is not history.anna and s not in exclude
    ]
    shopper = history.rng.choice(candidates)
    # A fresh instance: the service saves the tier fields of the instance it is given.
    membership = Membership.objects.get(pk=shopper.membership.pk)
    membership_tier_override(
        membership,
        tier=history.setup.tiers["Platin"],
        until=history.now + relativedelta(months=6),
        reason=VIP_REASON,
        user=history.setup.staff,
    )


def _offered(reward: Reward, when: datetime) -> bool:
    return (reward.active_from is None or reward.active_from <= when) and (
        reward.active_until is None or when < reward.active_until
    )


def _redeem(membership: Membership, rewards, rng, actor, when: datetime) -> Redemption | None:
    membership.refresh_from_db(fields=["balance"])
    affordable = [r for r in rewards if r.points_cost <= membership.balance and _offered(r, when)]
    if not affordable:
        return None
    try:
        return reward_redeem(
            membership=membership, reward=rng.choice(affordable), actor=actor, at=when
        )
    except LoyaltyError:  # out of stock, tier too low, limit reached: as in real life
        return None


def visit_days(history: DemoHistory, membership: Membership, count: int) -> list[datetime]:
    """Up to ``count`` moments, oldest first, shortly after purchases of the last year: a
    member redeems when they come by."""
    since = history.now - relativedelta(months=12)
    bought = list(
        Purchase.objects.filter(membership=membership, occurred_at__gte=since)
        .order_by("occurred_at")
        .values_list("occurred_at", flat=True)
    )
    chosen = sorted(history.rng.sample(bought, min(count, len(bought))))
    return [min(moment + timedelta(minutes=5), history.end) for moment in chosen]


def rewards_redeem(history: DemoHistory) -> None:
    """Members who still come by redeem on their visits of the last year; most vouchers
    are used at once, a few cancelled the next day."""
    rng = history.rng
    coffee_rewards = list(history.setup.rewards.values())
    city_rewards = list(history.setup.city_rewards.values())
    actor = Actor.for_customer()
    for shopper in history.shoppers:
        if shopper is history.anna:
            continue
        if rng.random() < REDEEM_CHANCE.get(shopper.profile, 0):
            for when in visit_days(history, shopper.membership, rng.randint(1, 3)):
                redemption = _redeem(shopper.membership, coffee_rewards, rng, actor, when)
                if redemption is None:
                    break
                roll = rng.random()
                if roll < 0.55:
                    redemption_mark_used(redemption=redemption, at=when + timedelta(minutes=2))
                elif roll < 0.6:
                    cancelled = min(when + timedelta(days=1), history.end)
                    redemption_cancel(redemption=redemption, actor=actor, at=cancelled)
        if shopper.city and rng.random() < 0.25:
            for when in visit_days(history, shopper.city, 1):
                _redeem(shopper.city, city_rewards, rng, actor, when)
