"""The demo's configuration, as staff would enter it in the admin.

A Freiburg coffee roaster (Kaffeerösterei Müller) runs a spend-based program with tiers,
a bought VIP tier, earn rules, bonus campaigns, action rules, a reward catalogue and a
referral scheme; the city card "Stadtkarte Freiburg" is a coalition program with
points-based tiers. Configuration rows are created directly (there is no service for
them, as in the admin); everything members do goes through the services, see
``loyalty_site.demo``.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from django.contrib.auth import get_user_model
from django.utils import timezone

from programs.models import (
    ActionRule,
    Campaign,
    DowngradeMode,
    EarnRule,
    ExpiryPolicy,
    LimitPeriod,
    Partner,
    Program,
    RedemptionOrder,
    ReturnPolicy,
    Reward,
    Rounding,
    RuleCombination,
    SubscriptionPeriod,
    Tier,
    TierKind,
    TierMetric,
    TierWindow,
)

COFFEE_SLUG = "kaffeeroesterei-mueller"  # also the marker of an existing demo data set
CITY_SLUG = "stadtkarte-freiburg"
DEMO_PASSWORD = "loyalty-demo"  # noqa: S105 - the documented demo login
STAFF_USERNAME = "staff"
STAFF_EMAIL = "staff@example.com"
ANNA_EMAIL = "anna.schmidt@example.com"  # the portal demo customer (password as above)

COFFEE_MONTHS = 18  # the coffee program started this long ago
CITY_MONTHS = 30  # the city card is older: its first points have expired by now

# (name, rank, threshold in EUR, earn multiplier, benefits)
COFFEE_TIERS = [
    ("Bronze", 0, "0", "1.00", "1 Punkt pro Euro\nGeburtstagsbonus: 250 Punkte\n"
     "Newsletter mit Röst-Neuheiten"),
    ("Silber", 1, "500", "1.25", "1,25-fache Punkte\nVersandkostenfrei ab 25 € im Webshop\n"
     "Früher Zugang zu limitierten Röstungen"),
    ("Gold", 2, "1500", "1.50", "1,5-fache Punkte\nVersandkostenfrei ohne Mindestbestellwert\n"
     "Ein Heißgetränk pro Monat gratis\nRöstereiführung als Prämie"),
    ("Platin", 4, "4000", "2.00", "Doppelte Punkte\nPersönliche Röstberatung\n"
     "Einladung zum jährlichen Cupping-Abend\nExpressversand ohne Aufpreis"),
]  # fmt: skip
SUBSCRIPTION_TIER = ("Kaffee-Abo Plus", 3, "1.50", "9.90", "Monatlich 9,90 €, monatlich "
                     "kündbar\n1,5-fache Punkte\nJeden Monat eine Überraschungsröstung (250 g)\n"
                     "Versandkostenfrei\n10 % Rabatt auf Zubehör")  # fmt: skip
CITY_TIERS = [
    ("Basis", 0, "0", "1.00", "1 Punkt pro Euro bei allen Partnern"),
    ("Plus", 1, "150", "1.10", "10 % mehr Punkte\nRabatt auf Veranstaltungen im Rathaus"),
    ("Premium", 2, "400", "1.25", "25 % mehr Punkte\nFreier Eintritt in städtische Museen"),
]

# (name, description, points, stock, minimum tier, limit per member)
COFFEE_REWARDS = [
    ("Heißgetränk nach Wahl", "Cappuccino, Flat White oder Chai Latte in der Filiale.",
     150, None, None, None),
    ("Stück Kuchen nach Wahl", "Aus unserer Vitrine in der Filiale Innenstadt.",
     200, None, None, None),
    ("250 g Freiburger Mischung", "Unsere Hausröstung, ganze Bohne oder gemahlen.",
     450, None, None, None),
    ("5-€-Gutschein für den Webshop", "Einlösbar ab 20 € Bestellwert.", 500, None, None, 3),
    ("Keramikbecher mit Röstereilogo", "Handgemacht in Staufen, 300 ml.", 800, 40, None, 2),
    ("Handfilter-Set", "Porzellan-Dripper und 100 Filterpapiere.", 1200, 25, None, 1),
    ("Röstereiführung mit Verkostung für zwei", "Jeden ersten Samstag im Monat, 90 Minuten.",
     2500, 12, "Gold", 1),
    ("Barista-Grundkurs (3 Stunden)", "Espresso, Milchschaum, Latte Art.", 4000, 6, None, 1),
]  # fmt: skip
SEASONAL_REWARD = ("Wintermischung 500 g (limitiert)", "Nur solange der Vorrat reicht.", 900, 30)
CITY_REWARDS = [
    ("Freibad-Tageskarte", "Gültig in allen städtischen Bädern.", 200, None),
    ("Kinogutschein", "Für eine Vorstellung im Kommunalen Kino.", 400, None),
    ("Altstadtführung für zwei", "Samstags um 11 Uhr ab dem Münsterplatz.", 600, 20),
]

# (code, name, points, limit count, limit period)
COFFEE_ACTIONS = [
    ("anmeldung", "Anmeldung", 100, 1, LimitPeriod.LIFETIME),
    ("bewertung", "Bewertung geschrieben", 50, 3, LimitPeriod.MONTH),
    ("mehrweg-becher", "Mehrweg-Becher mitgebracht", 10, 1, LimitPeriod.DAY),
    ("umfrage", "Umfrage beantwortet", 30, 1, LimitPeriod.MONTH),
]


@dataclass
class DemoPrograms:
    coffee: Program
    city: Program
    tiers: dict[str, Tier]  # the coffee program's qualified tiers, by name
    subscription: Tier
    city_tiers: dict[str, Tier]
    webshop: Partner
    store: Partner
    bookshop: Partner
    rewards: dict[str, Reward]
    city_rewards: dict[str, Reward]
    staff: object


def demo_present() -> bool:
    return Program.objects.filter(slug=COFFEE_SLUG).exists()


def _midnight(at: datetime) -> datetime:
    return timezone.localtime(at).replace(hour=0, minute=0, second=0, microsecond=0)


def _staff_user():
    user_model = get_user_model()
    user = user_model.objects.filter(username=STAFF_USERNAME).first()
    if user is None:
        user = user_model.objects.create_superuser(
            STAFF_USERNAME, STAFF_EMAIL, DEMO_PASSWORD, first_name="Demo", last_name="Staff"
        )
    return user


def _tiers(program: Program, spec) -> dict[str, Tier]:
    return {
        name: Tier.objects.create(
            program=program,
            name=name,
            rank=rank,
            threshold=Decimal(threshold),
            earn_multiplier=Decimal(multiplier),
            benefits=benefits,
        )
        for name, rank, threshold, multiplier, benefits in spec
    }


def _history_start(now: datetime, months: int) -> date:
    """The demo imports ``months`` of history: the program's history starts a month
    earlier (purchases dated before it would be refused)."""
    return timezone.localdate(now - relativedelta(months=months + 1))


def _coffee_program(now: datetime) -> Program:
    return Program.objects.create(
        name="Treueprogramm Kaffeerösterei Müller",
        slug=COFFEE_SLUG,
        history_starts_on=_history_start(now, COFFEE_MONTHS),
        description=(
            "Punkte sammeln in der Filiale Innenstadt und im Webshop: 1 Punkt pro Euro, "
            "doppelte Punkte auf Bohnen, Stufen von Bronze bis Platin. Punkte verfallen am "
            "Ende des Folgejahres."
        ),
        points_per_unit=Decimal(1),
        rounding=Rounding.DOWN,
        min_purchase_amount=Decimal("5.00"),
        rule_combination=RuleCombination.STACK,
        pending_days=14,
        expiry_policy=ExpiryPolicy.END_OF_FOLLOWING_YEAR,
        redemption_order=RedemptionOrder.SOONEST_EXPIRING,
        return_policy=ReturnPolicy.WITHIN_AVAILABLE,
        point_value=Decimal("0.0100"),
        tier_metric=TierMetric.SPEND,
        tier_window=TierWindow.ROLLING_12_MONTHS,
        downgrade_mode=DowngradeMode.ONE_STEP,
        downgrade_grace_days=30,
        referral_enabled=True,
        referrer_points=500,
        referee_points=200,
        referral_min_purchase=Decimal("20.00"),
        referral_cap=10,
        referral_cap_days=365,
        birthday_points=250,  # the daily job gives them (programs.services.occasions)
        anniversary_points=100,
        # Shared accounts pool (loyalty_site.demo.accounts); members may give points, and
        # a gift above 500 points waits for staff.
        accounts_pool=True,
        transfers_enabled=True,
        transfer_review_above=500,
    )


def _city_program(now: datetime) -> Program:
    return Program.objects.create(
        name="Stadtkarte Freiburg",
        slug=CITY_SLUG,
        history_starts_on=_history_start(now, CITY_MONTHS),
        description=(
            "Die Bonuskarte der Freiburger Innenstadt: Punkte bei allen teilnehmenden "
            "Geschäften sammeln und gegen Freizeitangebote der Stadt tauschen."
        ),
        points_per_unit=Decimal(1),
        rounding=Rounding.NEAREST,
        pending_days=7,
        expiry_policy=ExpiryPolicy.FIXED_PERIOD,
        expiry_months=24,
        redemption_order=RedemptionOrder.OLDEST_EARNED,
        return_policy=ReturnPolicy.PENDING_ONLY,
        point_value=Decimal("0.0050"),
        tier_metric=TierMetric.POINTS,
        tier_window=TierWindow.CALENDAR_YEAR,
        downgrade_mode=DowngradeMode.TO_QUALIFIED,
        anniversary_points=50,
    )


def _campaigns(program: Program, now: datetime) -> None:
    # A double-points weekend about five months ago (Friday 00:00 to Monday 00:00).
    day = _midnight(now - timedelta(days=150))
    friday = day - timedelta(days=(day.weekday() - 4) % 7)
    Campaign.objects.create(
        program=program,
        name="Doppelte Punkte Wochenende",
        starts_at=friday,
        ends_at=friday + timedelta(days=3),
        multiplier=Decimal(2),
    )
    # International Coffee Day (1 October), the last one that has passed.
    coffee_day = _midnight(now).replace(month=10, day=1)
    if coffee_day + timedelta(days=1) > now:
        coffee_day -= relativedelta(years=1)
    Campaign.objects.create(
        program=program,
        name="Tag des Kaffees: dreifache Punkte auf Getränke",
        starts_at=coffee_day,
        ends_at=coffee_day + timedelta(days=1),
        multiplier=Decimal(3),
        categories=["Getränke"],
        cap_per_member=50,
    )
    # Running now, capped per member.
    start = _midnight(now - timedelta(days=9))
    Campaign.objects.create(
        program=program,
        name="Röstfrisch-Wochen: doppelte Punkte auf Bohnen",
        starts_at=start,
        ends_at=start + timedelta(days=21),
        multiplier=Decimal(2),
        categories=["Bohnen"],
        cap_per_member=300,
    )


# Vouchers are good for a quarter; the seasonal one for a month (tills refuse expired ones).
VOUCHER_VALID_DAYS = 90


def _rewards(program: Program, tiers: dict[str, Tier], now: datetime) -> dict[str, Reward]:
    rewards = {}
    for name, description, points, stock, min_tier, limit in COFFEE_REWARDS:
        rewards[name] = Reward.objects.create(
            program=program,
            name=name,
            description=description,
            points_cost=points,
            stock=stock,
            min_tier=tiers[min_tier] if min_tier else None,
            per_member_limit=limit,
            voucher_valid_days=VOUCHER_VALID_DAYS,
        )
    name, description, points, stock = SEASONAL_REWARD
    rewards[name] = Reward.objects.create(
        program=program,
        name=name,
        description=description,
        points_cost=points,
        stock=stock,
        per_member_limit=2,
        voucher_valid_days=30,
        active_from=_midnight(now - timedelta(days=10)),
        active_until=_midnight(now + timedelta(days=40)),
    )
    return rewards


def demo_programs_create(now: datetime) -> DemoPrograms:
    """Create both programs with their tiers, rules, rewards and partners, and the staff
    user. Call only when ``demo_present()`` is False."""
    coffee = _coffee_program(now)
    tiers = _tiers(coffee, COFFEE_TIERS)
    name, rank, multiplier, price, benefits = SUBSCRIPTION_TIER
    subscription = Tier.objects.create(
        program=coffee,
        name=name,
        rank=rank,
        kind=TierKind.SUBSCRIPTION,
        earn_multiplier=Decimal(multiplier),
        benefits=benefits,
        subscription_price=Decimal(price),
        subscription_period=SubscriptionPeriod.MONTH,
    )
    EarnRule.objects.bulk_create(
        [
            EarnRule(
                program=coffee,
                name="Geschenkgutscheine: keine Punkte",
                category="Geschenkgutscheine",
                excluded=True,
            ),
            EarnRule(
                program=coffee,
                name="Bohnen: doppelte Punkte",
                category="Bohnen",
                multiplier=Decimal(2),
            ),
            EarnRule(
                program=coffee,
                name="Freiburger Mischung 1 kg: dreifache Punkte",
                sku="BOH-FRM-1000",
                multiplier=Decimal(3),
            ),
        ]
    )
    _campaigns(coffee, now)
    ActionRule.objects.bulk_create(
        ActionRule(
            program=coffee, code=code, name=name, points=points, limit_count=n, limit_period=period
        )
        for code, name, points, n, period in COFFEE_ACTIONS
    )
    city = _city_program(now)
    city_tiers = _tiers(city, CITY_TIERS)
    ActionRule.objects.create(program=city, code="anmeldung", name="Anmeldung", points=25,
                              limit_count=1, limit_period=LimitPeriod.LIFETIME)  # fmt: skip

    webshop = Partner.objects.create(name="Webshop", slug="mueller-webshop")
    store = Partner.objects.create(name="Filiale Innenstadt", slug="mueller-filiale-innenstadt")
    bookshop = Partner.objects.create(name="Buchhandlung am Markt", slug="buchhandlung-am-markt")
    webshop.programs.add(coffee)
    store.programs.add(coffee, city)
    bookshop.programs.add(city)

    city_rewards = {
        name: Reward.objects.create(
            program=city,
            name=name,
            description=description,
            points_cost=points,
            stock=stock,
            voucher_valid_days=VOUCHER_VALID_DAYS,
        )
        for name, description, points, stock in CITY_REWARDS
    }
    return DemoPrograms(
        coffee=coffee,
        city=city,
        tiers=tiers,
        subscription=subscription,
        city_tiers=city_tiers,
        webshop=webshop,
        store=store,
        bookshop=bookshop,
        rewards=_rewards(coffee, tiers, now),
        city_rewards=city_rewards,
        staff=_staff_user(),
    )
