"""Anna Schmidt, the portal's demo customer: a Gold regular since the launch, with a
login, points pending and points about to expire, redemptions in every state, friends
she referred and a city card whose first points have lapsed."""

from datetime import date, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.contrib.auth import get_user_model

from customers.services import customer_create
from loyalty_site.demo.history import DemoHistory
from loyalty_site.demo.programs import ANNA_EMAIL, DEMO_PASSWORD
from loyalty_site.demo.shopper import Shopper
from programs.services.ledger import Actor
from programs.services.purchases import LineData
from programs.services.rewards import redemption_cancel, redemption_mark_used, reward_redeem


def anna_create(history: DemoHistory) -> Shopper:
    """Create Anna first, so that later customers can be her referred friends."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=ANNA_EMAIL).first()
    if user is None:
        user = user_model.objects.create_user(
            ANNA_EMAIL, ANNA_EMAIL, DEMO_PASSWORD, first_name="Anna", last_name="Schmidt"
        )
    customer = customer_create(
        email=ANNA_EMAIL,
        first_name="Anna",
        last_name="Schmidt",
        birth_date=date(1988, 3, 14),
        user=user,
    )
    anna = history.anna = history.shopper(customer, "stamm", history.joined(2))
    _coffee(history, anna)
    _city(history, anna)
    return anna


def _coffee(history: DemoHistory, anna: Shopper) -> None:
    """About every two weeks: a coffee in the shop, and beans from the web shop at night."""
    setup, rng, membership = history.setup, history.rng, anna.membership
    store, webshop = setup.store, setup.webshop
    moment = anna.membership.joined_at + timedelta(days=1)
    while moment < history.end - timedelta(days=4):
        when = history.at(moment, (8, 17))
        purchase = history.buy(anna, membership, store, when, history.baskets.cafe())
        if rng.random() < 0.5:
            cup = when + timedelta(minutes=1)
            history.act(
                membership, "mehrweg-becher", purchase.order_id, cup, Actor.for_partner(store)
            )
        when = history.at(moment, (19, 22))
        history.buy(anna, membership, webshop, when, history.baskets.webshop())
        anna.web_orders += 1
        moment += timedelta(days=rng.uniform(11, 15))
    _top_up_to_gold(history, anna)
    # Beans ordered two days ago: still pending, and in the running bean campaign.
    recent = history.now - timedelta(days=2, hours=3)
    beans = [
        LineData("BOH-ETH-250", "Bohnen", 2, Decimal("11.50")),
        LineData("ZUB-FIL-100", "Zubehör", 1, Decimal("5.90")),
    ]
    history.buy(anna, membership, webshop, recent, beans)
    anna.last_purchase_at = recent
    for number, days in enumerate((200, 45), 1):
        when = history.now - timedelta(days=days)
        reference = f"bewertung-anna-{number}"
        history.act(membership, "bewertung", reference, when, Actor.for_partner(webshop))
    survey = f"nps-{history.now:%Y-%m}"
    history.act(membership, "umfrage", survey, history.now - timedelta(days=12))


def _top_up_to_gold(history: DemoHistory, anna: Shopper) -> None:
    """Make sure her rolling twelve months add up to Gold, whatever the seed drew."""
    gold = history.setup.tiers["Gold"]
    for _ in range(40):
        history.flush()  # her tier as the purchases so far leave it
        anna.membership.refresh_from_db()
        if anna.membership.tier and anna.membership.tier.rank >= gold.rank:
            return
        when = history.at(history.now - timedelta(days=history.rng.uniform(20, 300)), (19, 22))
        lines = history.baskets.webshop()
        history.buy(anna, anna.membership, history.setup.webshop, when, lines)


def _city(history: DemoHistory, anna: Shopper) -> None:
    """A city card member since before the coffee program; her first points have lapsed."""
    history.city_history(anna, history.city_start + timedelta(days=12), 0)
    for months in (27, 26, 20, 14, 11, 9, 6, 5, 3, 1):
        when = history.at(history.now - relativedelta(months=months), (10, 18))
        history.buy(anna, anna.city, history.setup.bookshop, when, history.baskets.bookshop())


def anna_redeem(history: DemoHistory) -> None:
    """A coffee she had in the summer, a cake she changed her mind about the next day, a
    day at the pool with her city card points, and a mug still to collect."""
    anna, setup, now = history.anna, history.setup, history.now
    actor = Actor.for_customer(anna.customer.user)
    rewards = setup.rewards

    def redeem(membership, reward, days_ago: int):
        when = history.at(now - timedelta(days=days_ago), (10, 17))
        return reward_redeem(membership=membership, reward=reward, actor=actor, at=when), when

    coffee, when = redeem(anna.membership, rewards["Heißgetränk nach Wahl"], 150)
    redemption_mark_used(redemption=coffee, at=when + timedelta(minutes=2))
    cake, when = redeem(anna.membership, rewards["Stück Kuchen nach Wahl"], 60)
    redemption_cancel(redemption=cake, actor=actor, at=when + timedelta(days=1))
    redeem(anna.city, setup.city_rewards["Freibad-Tageskarte"], 45)
    redeem(anna.membership, rewards["Keramikbecher mit Röstereilogo"], 6)
