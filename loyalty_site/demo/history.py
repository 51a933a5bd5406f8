"""Demo customers and their histories, written through the services only.

Customers fall into profiles (occasional buyers, regulars, churned, new, a few heavy
buyers, some who only signed up); each gets purchases over the last 18 months in the shop
and the web shop, returns, actions and, for some, a referral in one of its states. All is
drawn from one seeded ``random.Random``, so a seed gives the same data set (up to
generated codes, and dates, which are relative to now).
"""

import random
from datetime import date, datetime, time, timedelta

from dateutil.relativedelta import relativedelta
from django.utils import timezone

from customers.models import Customer
from customers.services import customer_create
from loyalty_site.demo.batches import Batches, Planned
from loyalty_site.demo.campaigns import audience_join, extra_visit
from loyalty_site.demo.catalogue import (
    FIRST_NAMES,
    LAST_NAMES,
    PROFILE_SHARES,
    REFERRAL_SCENARIOS,
    Baskets,
    ascii_name,
    basket_total,
)
from loyalty_site.demo.programs import ANNA_EMAIL, CITY_MONTHS, COFFEE_MONTHS, DemoPrograms
from loyalty_site.demo.shopper import Shopper
from programs.models import Campaign
from programs.services.action_batches import ActionItem
from programs.services.ledger import Actor
from programs.services.memberships import membership_enroll
from programs.services.occasions import occasions_award
from programs.services.purchase_refunds import RefundLine, purchase_refund
from programs.services.purchases import LineData
from programs.services.referrals import referral_approve, referral_register, referral_reject

EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
WEB_SHARE = {"stamm": 0.5}  # the rest buy in the shop
SAME_DEVICE = ("review", "staff_rejected", "approved")  # friend signs up on the referrer's device
STAFF_REJECTION = "Gleiches Gerät wie das werbende Mitglied; Eigenwerbung über Zweitkonto vermutet"


class DemoHistory:
    """Creates the customers one by one, each with a complete history; their purchases,
    actions and returns are written in batches (``batches``, by ``flush``)."""

    def __init__(self, setup: DemoPrograms, *, rng: random.Random, now: datetime):
        self.setup, self.rng, self.now = setup, rng, now
        self.end = now - timedelta(hours=2)  # the latest moment anything happened
        self.start = now - relativedelta(months=COFFEE_MONTHS)
        self.city_start = now - relativedelta(months=CITY_MONTHS)
        self.baskets = Baskets(rng)
        self.emails: set[str] = {ANNA_EMAIL}
        self.orders = {"POS": 0, "WS": 0, "BAM": 0}
        self.shoppers: list[Shopper] = []
        self.anna: Shopper | None = None  # set by loyalty_site.demo.anna
        self.comeback: Campaign | None = None  # set by demo_load (loyalty_site.demo.campaigns)
        self.stats = {"actions_refused": 0}
        self.batches = Batches()

    def flush(self) -> None:
        """Write the purchases, actions and returns drawn so far."""
        self.batches.flush()
        self.stats["actions_refused"] = self.batches.actions_refused

    # -- people -----------------------------------------------------------------------

    def _email(self, first: str, last: str) -> str:
        f, l = ascii_name(first), ascii_name(last)  # noqa: E741
        for _ in range(20):
            local = self.rng.choice(
                [
                    f"{f}.{l}",
                    f"{f[0]}.{l}",
                    f"{f}{l}",
                    f"{l}.{f}",
                    f"{f}.{l}{self.rng.randint(1, 99)}",
                ]
            )
            email = f"{local}@{self.rng.choice(EMAIL_DOMAINS)}"
            if email not in self.emails:
                self.emails.add(email)
                return email
        email = f"{f}.{l}.{len(self.emails)}@example.com"
        self.emails.add(email)
        return email

    def joined(self, days_after_start: float) -> datetime:
        day = timezone.localtime(self.start + timedelta(days=days_after_start)).date()
        clock = time(7, self.rng.randint(0, 59))
        return timezone.make_aware(datetime.combine(day, clock))

    def shopper(self, customer: Customer, profile: str, joined: datetime) -> Shopper:
        setup, index = self.setup, len(self.shoppers) + 1
        membership, _ = membership_enroll(customer=customer, program=setup.coffee, joined_at=joined)
        self.batches.link(partner=setup.webshop, customer=customer, external_id=f"WS-{index:06d}")
        self.batches.link(partner=setup.store, customer=customer, external_id=f"KK-{index:06d}")
        ip = (
            f"{('192.0.2', '198.51.100', '203.0.113')[index // 250]}.{index % 250 + 1}"
            if index < 750
            else f"2001:db8::{index:x}"
        )  # documentation ranges, one address per customer
        shopper = Shopper(
            customer=customer,
            membership=membership,
            profile=profile,
            device_id=f"dev-{self.rng.getrandbits(40):010x}",
            ip=ip,
            card=f"card-{self.rng.getrandbits(48):012x}",
            stockpiler=profile == "vielkaeufer" or (profile == "stamm" and self.rng.random() < 0.5),
        )
        shopper.reached = audience_join(self.comeback, membership)
        self.shoppers.append(shopper)
        self.act(membership, "anmeldung", "anmeldung", joined + timedelta(minutes=2))
        return shopper

    def _customer(self, *, first=None, last=None, email=None, with_email=True) -> Customer:
        rng = self.rng
        first, last = first or rng.choice(FIRST_NAMES), last or rng.choice(LAST_NAMES)
        birth = None
        if rng.random() < 0.65:
            birth = date(
                self.now.year - rng.randint(19, 78), rng.randint(1, 12), rng.randint(1, 28)
            )
        return customer_create(
            email=email or (self._email(first, last) if with_email else ""),
            first_name=first,
            last_name=last,
            language="en" if rng.random() < 0.08 else "de",
            birth_date=birth,
        )

    # -- events -----------------------------------------------------------------------

    def at(self, moment: datetime, hours: tuple[int, int]) -> datetime:
        """The same day at a plausible hour (never after ``self.end``)."""
        local = timezone.localtime(moment)
        moment = local.replace(hour=self.rng.randint(*hours), minute=self.rng.randint(0, 59))
        return moment if moment <= self.end else moment - timedelta(days=1)

    def act(self, membership, code: str, reference: str, when: datetime, actor=None) -> None:
        """Queue an action (``action_record``), written with the batches."""
        self.batches.action(
            ActionItem(
                membership_id=membership.pk,
                code=code,
                reference=reference,
                actor=actor or Actor.system(),
                occurred_at=when,
            )
        )

    def buy(self, shopper, membership, partner, when, lines: list[LineData]) -> Planned:
        """Queue a purchase, stored and awarded with the batches (as ``purchase_record``
        with ``award_now`` would, a purchase at a time)."""
        web = partner == self.setup.webshop
        prefix = "WS" if web else ("BAM" if partner == self.setup.bookshop else "POS")
        self.orders[prefix] += 1
        card = shopper.card if web or self.rng.random() < 0.6 else ""
        return self.batches.purchase(
            Planned(
                partner=partner,
                membership=membership,
                order_id=f"{prefix}-{timezone.localtime(when):%Y%m%d}-{self.orders[prefix]:05d}",
                amount=basket_total(lines),
                occurred_at=when,
                lines=lines,
                payment_fingerprint=card,
                device_id=shopper.device_id if web else "",
                ip_address=shopper.ip if web else None,
            )
        )

    def _times(self, profile: str, joined: datetime) -> list[datetime]:
        rng, end = self.rng, self.end

        def between(a, b):
            return a + (b - a) * rng.random()

        if profile == "nur_angemeldet":
            return []
        if profile in ("stamm", "vielkaeufer"):
            gap = 6.0 if profile == "vielkaeufer" else 30 / rng.uniform(0.8, 2.2)
            times, t = [], joined + timedelta(days=rng.uniform(0.5, gap))
            while t < end:
                times.append(t)
                t += timedelta(days=max(0.5, rng.expovariate(1 / gap)))
            return times
        if profile == "abgewandert":
            churn = max(end - timedelta(days=rng.uniform(185, 330)), joined + timedelta(days=20))
            return sorted(between(joined, churn) for _ in range(rng.randint(2, 6)))
        count = rng.randint(1, 3) if profile == "neu" else rng.choice([1, 1, 2, 2, 3, 3, 4, 5])
        return sorted(between(joined, end) for _ in range(count))

    def _coffee_history(self, shopper: Shopper, times, *, first_min=None) -> list:
        """Purchases (with cups, reviews and returns); returns the purchases. Birthday and
        anniversary bonuses come from the daily job (``occasions_past``)."""
        rng, setup, membership = self.rng, self.setup, shopper.membership
        bought = []
        for number, moment in enumerate(times):
            web_share = 0.8 if shopper.stockpiler else WEB_SHARE.get(shopper.profile, 0.35)
            web = rng.random() < web_share or (number == 0 and first_min is not None)
            if web:
                when = self.at(moment, (8, 23))
                lines = self.baskets.webshop(big=shopper.stockpiler)
                while number == 0 and first_min is not None and basket_total(lines) < first_min:
                    lines = self.baskets.webshop()
                purchase = self.buy(shopper, membership, setup.webshop, when, lines)
                shopper.web_orders += 1
                if rng.random() < 0.08 and when + timedelta(days=3) < self.end:
                    self.act(
                        membership,
                        "bewertung",
                        f"bewertung-{purchase.order_id}",
                        when + timedelta(days=3),
                        Actor.for_partner(setup.webshop),
                    )
            else:
                when = self.at(moment, (8, 18))
                cafe = rng.random() < (0.4 if shopper.profile == "stamm" else 0.6)
                lines = self.baskets.cafe() if cafe else self.baskets.beans()
                purchase = self.buy(shopper, membership, setup.store, when, lines)
                cup_share = 0.45 if shopper.profile == "stamm" else 0.2
                if cafe and rng.random() < cup_share:
                    self.act(
                        membership,
                        "mehrweg-becher",
                        purchase.order_id,
                        when + timedelta(minutes=1),
                        Actor.for_partner(setup.store),
                    )
            bought.append((purchase, lines))
            shopper.last_purchase_at = max(filter(None, [shopper.last_purchase_at, when]))
        self._returns(bought)
        return [purchase for purchase, _ in bought]

    def occasions_past(self) -> int:
        """The birthday and anniversary bonuses of the story, as the daily job gave them
        on each day since the older program began (one run over the whole span)."""
        return occasions_award(
            today=timezone.localdate(self.end), since=timezone.localdate(self.city_start)
        )

    def _returns(self, bought: list[tuple[Planned, list[LineData]]]) -> None:
        """Some accessories come back; now and then a whole order."""
        for planned, lines in bought:
            gear = [n for n, line in enumerate(lines, 1) if line.category == "Zubehör"]
            if gear and self.rng.random() < 0.15:
                self._refund(planned, lines=[RefundLine(line_no=gear[0], quantity=1)])
            elif self.rng.random() < 0.01:
                self._refund(planned, amount=planned.amount)

    def _refund(self, planned: Planned, suffix: str = "", **refund) -> None:
        """Queue a return of ``planned``; without ``amount`` or ``lines``, what is left."""

        def record():
            purchase = planned.stored()
            if not refund:
                if purchase.refunded_amount >= purchase.amount:
                    return  # an earlier return of the story took it all back
                refund["amount"] = purchase.amount - purchase.refunded_amount
            purchase_refund(
                purchase=purchase,
                refund_id=f"RET-{purchase.order_id}{suffix}",
                actor=Actor.for_partner(purchase.partner),
                **refund,
            )

        self.batches.call(planned.membership, record)

    def city_history(self, shopper: Shopper, joined: datetime, count: int) -> None:
        setup = self.setup
        membership, _ = membership_enroll(
            customer=shopper.customer, program=setup.city, joined_at=joined
        )
        shopper.city = membership
        self.batches.link(
            partner=setup.bookshop,
            customer=shopper.customer,
            external_id=f"BAM-{shopper.customer.pk:06d}",
        )
        self.act(membership, "anmeldung", "anmeldung", joined + timedelta(minutes=5))
        for _ in range(count):
            moment = joined + (self.end - joined) * self.rng.random()
            when = self.at(moment, (9, 19))
            if self.rng.random() < 0.8:
                self.buy(shopper, membership, setup.bookshop, when, self.baskets.bookshop())
            else:
                self.buy(shopper, membership, setup.store, when, self.baskets.cafe())

    def _survey(self, shopper: Shopper) -> None:
        """This month's NPS survey went to everyone who bought in the last four months."""
        last = shopper.last_purchase_at
        if last and last > self.now - timedelta(days=120) and self.rng.random() < 0.3:
            when = self.end - timedelta(days=self.rng.uniform(3, 30))
            self.act(shopper.membership, "umfrage", f"nps-{self.now:%Y-%m}", when)

    # -- the population ---------------------------------------------------------------

    def plan(self, n: int) -> list[tuple[str, str | None]]:
        """Profiles for ``n`` customers in their shares, and the referral scenarios."""
        profiles = []
        for profile, share in PROFILE_SHARES:
            profiles += [profile] * max(1, round(share * n / 100))
        profiles = (profiles + ["gelegentlich"] * n)[:n]
        self.rng.shuffle(profiles)
        k = max(len(REFERRAL_SCENARIOS), n // 12)
        positions = sorted(self.rng.sample(range(n // 5, n), k))
        scenarios = dict(zip(positions, (REFERRAL_SCENARIOS * k)[:k], strict=True))
        return [(profiles[i], scenarios.get(i)) for i in range(n)]

    def customer(self, profile: str, scenario: str | None) -> Shopper:
        rng, span = self.rng, (self.end - self.start).days
        referrer = self._referrer(scenario) if scenario else None
        if scenario == "self":  # the referrer's second account, with a +tag address
            base = referrer.customer
            local, _, domain = base.email.partition("@")
            tags = (f"{local}+{tag}@{domain}" for tag in ("kaffee", "bohnen", "treue", "zwei"))
            email = next(e for e in tags if e not in self.emails)
            self.emails.add(email)
            customer = self._customer(first=base.first_name, last=base.last_name, email=email)
        else:
            customer = self._customer(with_email=rng.random() > 0.04)
        profile = {
            "signed_up": "nur_angemeldet",
            "qualified": "neu",
            "review": "neu",
            "staff_rejected": "neu",
        }.get(scenario, profile)
        if scenario == "qualified":
            joined = self.joined(span - rng.uniform(10, 13))
        elif profile == "neu":
            joined = self.joined(span - rng.uniform(5, 60))
        elif profile == "abgewandert":
            joined = self.joined(rng.uniform(0, 180))
        elif profile == "vielkaeufer":  # the office across the street, a customer since launch
            joined = self.joined(rng.uniform(0, 45))
        elif scenario in ("rewarded", "approved", "returned"):
            joined = self.joined(rng.uniform(0, span - 60))
        else:  # a launch wave, then a steady trickle
            joined = self.joined(rng.uniform(0, 30) if rng.random() < 0.3 else rng.uniform(0, span))
        shopper = self.shopper(customer, profile, joined)
        if referrer:
            self.batches.store()  # the risk check reads the referrer's purchases
        referral = self._refer(shopper, referrer, scenario) if referrer else None
        times = self._times(profile, joined)
        if shopper.reached and times and self.comeback is not None:
            # some came back for the bonus: a draw of their own, seeded by who they are
            story = random.Random(f"{customer.full_name} {customer.email}")  # noqa: S311
            if story.random() < 0.35:
                times = sorted([*times, extra_visit(self.comeback, story)])
        first_min = None
        if referral is not None and times:
            first_min = self.setup.coffee.referral_min_purchase
            if scenario in ("rewarded", "approved", "returned"):
                times[0] = joined + timedelta(days=rng.uniform(1, 10))
                times.sort()
        purchases = self._coffee_history(shopper, times, first_min=first_min)
        if scenario == "returned" and purchases:
            self._refund(purchases[0], "-voll")  # all that is left of the first
        if rng.random() < 0.3:
            city_joined = self.city_start + timedelta(days=rng.uniform(0, 30 * CITY_MONTHS - 20))
            self.city_history(shopper, city_joined, rng.randint(1, 5))
        self._survey(shopper)
        return shopper

    def _referrer(self, scenario: str) -> Shopper:
        candidates = [
            s
            for s in self.shoppers
            if s is not self.anna
            and s.referrals_made < 3
            and s.profile in ("stamm", "gelegentlich", "vielkaeufer")
            and s.customer.email
            and (scenario not in SAME_DEVICE or s.web_orders)  # their device is on record
        ]
        anna_turn = (
            self.anna and self.anna.referrals_made < 2 and scenario in ("rewarded", "signed_up")
        )
        chosen = self.anna if anna_turn or not candidates else self.rng.choice(candidates)
        chosen.referrals_made += 1
        return chosen

    def _refer(self, shopper: Shopper, referrer: Shopper, scenario: str):
        suspicious = scenario in SAME_DEVICE
        referral = referral_register(
            referral_code=referrer.membership.referral_code,
            referee=shopper.membership,
            ip=None if suspicious else shopper.ip,
            device_id=referrer.device_id if suspicious else shopper.device_id,
        )
        staff = self.setup.staff
        if scenario == "approved":
            referral = referral_approve(referral=referral, user=staff)
        elif scenario == "staff_rejected":
            referral = referral_reject(referral=referral, user=staff, reason=STAFF_REJECTION)
        return referral
