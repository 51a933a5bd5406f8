"""A believable German demo data set, loaded by ``manage.py demo_data``.

* ``programs``: the configuration (two programs, tiers, rules, campaigns, rewards,
  partners, the staff user), created as staff would in the admin;
* ``catalogue``: names, the assortment and baskets;
* ``history``: customers with 18 months of purchases, returns, actions and referrals,
  written in batches (``batches``: each member's story in order, set-based);
* ``anna``: the portal demo customer; ``today``: subscriptions, a staff tier, redemptions;
* ``accounts``: a business account with three buyers and a household of three, pooling,
  with a redemption from the pool, a transfer and a transfer waiting for review;
* ``nights``: the nightly jobs, run on the nights of the story.

Everything customers do goes through the services, dated as the story says: an order's
points at the order's date (``effective_at``), a redemption on the day it was made,
expiry on the night it fell due. The load is one transaction; the engagement scores, the
metric snapshots and the customer-value fit, computed by the nightly tasks, are computed
after it, so every chart of the dashboard is filled at once.
"""

import random

from django.db import transaction
from django.utils import timezone

from loyalty_site.demo.accounts import accounts_create
from loyalty_site.demo.anna import anna_create, anna_redeem
from loyalty_site.demo.campaigns import comeback_campaign_create, demo_segment_create
from loyalty_site.demo.history import DemoHistory
from loyalty_site.demo.nights import nights_run
from loyalty_site.demo.programs import demo_present, demo_programs_create
from loyalty_site.demo.surveys import demo_surveys_create
from loyalty_site.demo.today import rewards_redeem, subscriptions_buy, vip_override
from programs.services import due
from surveys.engagement.scores import engagement_recompute
from surveys.services.member_value import member_value_fit_all
from surveys.services.snapshots import snapshots_build

__all__ = ["DemoDrift", "demo_load", "demo_present"]


class DemoDrift(Exception):
    """The ledger and the cached balances disagree after loading (a bug in the services)."""


def demo_load(*, customers: int, seed: int) -> DemoHistory:
    """Load the data set with ``customers`` customers (Anna included). Call only when
    ``demo_present()`` is False. Raises ``DemoDrift`` (and loads nothing) on drift."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
    with transaction.atomic():
        now = timezone.now()
        history = DemoHistory(demo_programs_create(now), rng=rng, now=now)
        history.comeback = comeback_campaign_create(history.setup.coffee, now)
        demo_segment_create(history.setup.coffee)
        anna_create(history)
        for profile, scenario in history.plan(customers - 1):
            history.customer(profile, scenario)
        history.flush()
        # Settle the history before today's activity: birthday and anniversary bonuses,
        # then release, expire and reward referrers on the nights things fell due, then
        # what is due today.
        history.occasions_past()
        nights_run(until=now)
        due.points_release_due()
        due.points_expire_due()
        accounts_create(history)
        subscribers = subscriptions_buy(history)
        vip_override(history, exclude=subscribers)
        rewards_redeem(history)
        anna_redeem(history)
        due.points_release_due()
        due.points_expire_due()
        due.referrals_release_due()
        drift = due.ledger_drift()
        if drift:
            raise DemoDrift(f"Ledger drift after loading the demo data: {drift[:5]}")
        demo_surveys_create(programs=[history.setup.coffee, history.setup.city], rng=rng, now=now)
    # What the nightly tasks compute, each in a transaction of its own: the engagement
    # scores, then the snapshots (whose engagement bands read the scores), then the
    # customer-value fit per program (predicted CLV, probability alive).
    engagement_recompute(now=now)
    snapshots_build(months=None, now=now)
    member_value_fit_all(now=now)
    return history
