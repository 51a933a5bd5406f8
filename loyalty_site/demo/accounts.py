"""Shared accounts in the demo's coffee program: the restaurant company Müller Gastro GmbH,
whose owner and three buyers order beans in the web shop for the company (a purchase
order number on each order), with a viewer from accounting; and the household Familie
Schneider, three people who pool what they buy in the shop.

Everything goes through the services: ``account_create`` and ``account_member_add`` (the
program pools: from joining on, a member's purchases are recorded on the account's
balance with the member as ``placed_by``, as ``purchase_record`` does), the history's
batches for the purchases, ``reward_redeem`` for a buyer spending from the pool, and
``transfer_create`` for a daughter giving her own points to the family account (done at
once) and the head of the family giving points to a friend outside it (above the review
threshold: it waits for staff).
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model

from customers.services import customer_create
from loyalty_site.demo.batches import Planned
from loyalty_site.demo.history import DemoHistory
from loyalty_site.demo.programs import DEMO_PASSWORD
from programs.models import Account, AccountKind, AccountRole, Membership, Partner
from programs.services import due
from programs.services.account_spending import account_purchase_check, purchase_membership
from programs.services.accounts import account_create, account_member_add
from programs.services.ledger import Actor
from programs.services.memberships import membership_enroll
from programs.services.purchases import LineData
from programs.services.rewards import reward_redeem
from programs.services.transfers import transfer_create

BUSINESS_NAME = "Müller Gastro GmbH"
HOUSEHOLD_NAME = "Familie Schneider"
OWNER_EMAIL = "thomas.mueller@mueller-gastro.example"  # portal login, as Anna's
HEAD_EMAIL = "klaus.schneider@example.net"  # portal login, as Anna's


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    email: str
    role: str
    born: date
    monthly_limit: int | None = None
    login: bool = False


BUSINESS_PEOPLE = [
    Person("Thomas", "Müller", OWNER_EMAIL, AccountRole.OWNER, date(1971, 5, 2), login=True),
    Person("Jonas", "Becker", "jonas.becker@mueller-gastro.example", AccountRole.BUYER,
           date(1989, 9, 17)),
    Person("Katrin", "Wolf", "katrin.wolf@mueller-gastro.example", AccountRole.BUYER,
           date(1992, 1, 8), monthly_limit=500),
    Person("Mehmet", "Kaya", "mehmet.kaya@mueller-gastro.example", AccountRole.BUYER,
           date(1985, 11, 23)),
    Person("Petra", "Hoffmann", "buchhaltung@mueller-gastro.example", AccountRole.VIEWER,
           date(1966, 3, 30)),
]  # fmt: skip
HOUSEHOLD_PEOPLE = [
    Person("Klaus", "Schneider", HEAD_EMAIL, AccountRole.HEAD, date(1968, 7, 12), login=True),
    Person("Monika", "Schneider", "monika.schneider@example.net", AccountRole.MEMBER,
           date(1970, 2, 4)),
    Person("Lena", "Schneider", "lena.schneider@example.net", AccountRole.MEMBER,
           date(2003, 10, 19)),
]  # fmt: skip
ACCOUNT_PEOPLE = len(BUSINESS_PEOPLE) + len(HOUSEHOLD_PEOPLE)


def _customer(person: Person):
    user = None
    if person.login:
        users = get_user_model().objects
        user = users.filter(username=person.email).first() or users.create_user(
            person.email,
            person.email,
            DEMO_PASSWORD,
            first_name=person.first,
            last_name=person.last,
        )
    return customer_create(
        email=person.email,
        first_name=person.first,
        last_name=person.last,
        birth_date=person.born,
        user=user,
    )


class AccountsStory:
    """The two accounts' people and purchases, queued on the history's batches."""

    def __init__(self, history: DemoHistory):
        self.history, self.setup, self.now = history, history.setup, history.now
        self.orders = 0

    def enroll(self, people: list[Person], months_ago: int) -> list[Membership]:
        joined = self.now - timedelta(days=30 * months_ago)
        return [
            membership_enroll(
                customer=_customer(person), program=self.setup.coffee, joined_at=joined
            )[0]
            for person in people
        ]

    def buy(
        self,
        membership: Membership,
        partner: Partner,
        days_ago: float,
        lines: list[LineData],
        po_reference: str = "",
    ) -> None:
        """Queue a purchase where ``purchase_record`` would record it: on the account's
        balance while the member pools, with the member as ``placed_by``."""
        target, placed_by = purchase_membership(membership)
        if placed_by is not None:
            account_purchase_check(target, po_reference)
        when = self.history.at(self.now - timedelta(days=days_ago), (9, 17))
        self.orders += 1
        self.history.batches.purchase(
            Planned(
                partner=partner,
                membership=target,
                order_id=f"KTO-{self.orders:05d}",
                amount=sum((line.amount for line in lines), Decimal(0)),
                occurred_at=when,
                lines=lines,
                placed_by=placed_by,
                po_reference=po_reference,
            )
        )


def _wholesale(kilos: int, espresso: int) -> list[LineData]:
    return [
        LineData("BOH-FRM-1000", "Bohnen", kilos, Decimal("29.90")),
        LineData("BOH-ESP-500", "Bohnen", espresso, Decimal("16.90")),
    ]


def _cafe() -> list[LineData]:
    return [
        LineData("GET-CAP", "Getränke", 2, Decimal("3.60")),
        LineData("BOH-FRM-250", "Bohnen", 2, Decimal("8.90")),
    ]


def accounts_create(history: DemoHistory) -> tuple[Account, Account]:
    """Both accounts with their members, purchases, a redemption and two transfers.
    Call after the history is written (``history.flush``), before today's activity."""
    story, setup, now = AccountsStory(history), history.setup, history.now
    webshop, store = setup.webshop, setup.store

    # The family shopped on their own cards before they pooled.
    family = story.enroll(HOUSEHOLD_PEOPLE, months_ago=14)
    klaus, monika, lena = family
    for days in (400, 370, 340, 310, 280):
        story.buy(klaus, webshop, days, _wholesale(1, 2))
    for days in (300, 250, 200):
        story.buy(lena, store, days, _cafe())
    business = story.enroll(BUSINESS_PEOPLE, months_ago=8)
    history.flush()

    joined = now - timedelta(days=150)
    gastro = account_create(
        program=setup.coffee,
        kind=AccountKind.BUSINESS,
        name=BUSINESS_NAME,
        manager=business[0],
        vat_id="DE298765431",
        street="Kaiser-Joseph-Straße 212",
        postal_code="79098",
        city="Freiburg im Breisgau",
        country="DE",
        requires_po_reference=True,
        now=joined,
    )
    for person, membership in zip(BUSINESS_PEOPLE[1:], business[1:], strict=True):
        account_member_add(
            account=gastro,
            membership=membership,
            role=person.role,
            monthly_limit=person.monthly_limit,
            now=joined,
        )
    schneider = account_create(
        program=setup.coffee,
        kind=AccountKind.HOUSEHOLD,
        name=HOUSEHOLD_NAME,
        manager=klaus,
        street="Habsburgerstraße 88",
        postal_code="79104",
        city="Freiburg im Breisgau",
        now=joined,
    )
    for membership in (monika, lena):
        account_member_add(
            account=schneider, membership=membership, role=AccountRole.MEMBER, now=joined
        )

    # Memberships changed (``pool``): read them again before buying for the account.
    ids = [m.pk for m in (*business, *family)]
    fresh = Membership.objects.select_related("program", "tier").in_bulk(ids)
    owner, jonas, katrin, mehmet, _viewer = (fresh[m.pk] for m in business)
    klaus, monika, lena = (fresh[m.pk] for m in family)
    purchase_order = iter(range(141, 200))
    for buyer, days in (
        (owner, (120,)),
        (jonas, (110, 75, 40, 12)),
        (katrin, (95, 60, 25)),
        (mehmet, (100, 50, 20)),
    ):
        for ago in days:
            story.buy(buyer, webshop, ago, _wholesale(5, 4), f"PO-2025-{next(purchase_order):04d}")
    for member, days in ((klaus, (130, 70, 21)), (monika, (115, 64, 30, 9)), (lena, (90, 45))):
        for ago in days:
            story.buy(member, store, ago, _cafe())
    history.flush()
    due.points_release_due()

    redeemer = Actor.for_customer()
    reward_redeem(
        membership=gastro.holder,
        reward=setup.rewards["Handfilter-Set"],
        actor=redeemer,
        at=now - timedelta(days=8),
        by=jonas,
    )
    transfer_create(
        sender=lena,
        recipient=schneider.holder,
        points=100,
        key="demo:transfer:lena-familie",
        actor=redeemer,
        message="Für den Familienausflug zur Röstereiführung",
        now=now - timedelta(days=6),
    )
    transfer_create(
        sender=klaus,
        recipient=owner,
        points=setup.coffee.transfer_review_above + 100,
        key="demo:transfer:klaus-thomas",
        actor=Actor.for_customer(klaus.customer.user),
        message="Danke für die Hilfe beim Umzug!",
        now=now - timedelta(days=2),
    )
    return gastro, schneider
