"""What happens on the day the demo is loaded (the services date these writes now):
subscriptions bought, a tier set by staff, rewards redeemed."""

from dateutil.relativedelta import relativedelta

from loyalty_site.demo.history import DemoHistory
from loyalty_site.demo.shopper import Shopper
from programs.errors import LoyaltyError
from programs.models import Membership, Redemption
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


def _redeem(membership: Membership, rewards, rng, actor) -> Redemption | None:
    membership.refresh_from_db(fields=["balance"])
    affordable = [r for r in rewards if r.points_cost <= membership.balance]
    if not affordable:
        return None
    try:
        return reward_redeem(membership=membership, reward=rng.choice(affordable), actor=actor)
    except LoyaltyError:  # out of stock, tier too low, limit reached: as in real life
        return None


def rewards_redeem(history: DemoHistory) -> None:
    """Members who still come by redeem; most vouchers are used at once, a few cancelled."""
    rng = history.rng
    coffee_rewards = list(history.setup.rewards.values())
    city_rewards = list(history.setup.city_rewards.values())
    actor = Actor.for_customer()
    for shopper in history.shoppers:
        if shopper is history.anna:
            continue
        if rng.random() < REDEEM_CHANCE.get(shopper.profile, 0):
            for _ in range(rng.randint(1, 3)):
                redemption = _redeem(shopper.membership, coffee_rewards, rng, actor)
                if redemption is None:
                    break
                roll = rng.random()
                if roll < 0.55:
                    redemption_mark_used(redemption=redemption)
                elif roll < 0.6:
                    redemption_cancel(redemption=redemption, actor=actor)
        if shopper.city and rng.random() < 0.25:
            _redeem(shopper.city, city_rewards, rng, actor)
