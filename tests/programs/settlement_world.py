"""A small coalition, built through the services with the clock set to each moment: the
city card "Stadtkarte" (a point is worth 0.05 EUR, points pending for 7 days, one point
per euro, no tiers), the bakery A, the bookshop B, two members and the operator.

March 2026 is the month the tests settle; February and April hold entries that must not
count in March. Every figure of March is worked out by hand in ``test_settlement``.
"""

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from unittest import mock
from zoneinfo import ZoneInfo

from django.utils import timezone

from programs.models import Membership, Partner, Program, PurchaseStatus, Redemption
from programs.models import RedemptionStatus as Status
from programs.services.actions import points_adjust
from programs.services.due import points_expire_due, points_release_due
from programs.services.holds import hold_capture, hold_place
from programs.services.ledger import Actor
from programs.services.memberships import membership_enroll
from programs.services.purchase_refunds import purchase_refund
from programs.services.purchases import purchase_record
from programs.services.rewards import redemption_cancel, reward_redeem
from tests.factories import (
    CustomerFactory,
    PartnerFactory,
    ProgramFactory,
    RewardFactory,
    StaffFactory,
)

BERLIN = ZoneInfo("Europe/Berlin")


def at(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


@contextmanager
def clock(moment: datetime):
    """The services' "now" is ``moment``."""
    with mock.patch.object(timezone, "now", return_value=moment):
        yield


@dataclass
class Coalition:
    program: Program
    bakery: Partner  # A
    bookshop: Partner  # B
    erika: Membership
    max: Membership
    vouchers: dict[str, Redemption]


def buy(partner, membership, amount, moment, order_id):
    with clock(moment):
        purchase, _ = purchase_record(
            partner=partner,
            membership=membership,
            order_id=order_id,
            amount=Decimal(amount),
            currency="EUR",
            occurred_at=moment,
            award_now=True,
        )
    assert purchase.status == PurchaseStatus.AWARDED
    return purchase


def refund(purchase, refund_id, amount, moment):
    with clock(moment):
        purchase_refund(
            purchase=purchase,
            refund_id=refund_id,
            amount=Decimal(amount),
            actor=Actor.for_partner(purchase.partner),
        )


def redeem_in_portal(membership, reward, moment):
    with clock(moment):
        return reward_redeem(
            membership=membership, reward=reward, actor=Actor.for_customer(), at=moment
        )


def use_at(redemption, partner, moment):
    """As a till's voucher use records it (``used_by_partner``, ``used_at``)."""
    Redemption.objects.filter(pk=redemption.pk).update(
        status=Status.USED, used_at=moment, used_by_partner=partner
    )


def coalition_build() -> Coalition:
    program = ProgramFactory(
        name="Stadtkarte", slug="stadtkarte", point_value=Decimal("0.05"), pending_days=7
    )
    bakery = PartnerFactory(name="Bäckerei Korn", slug="baeckerei", programs=[program])
    bookshop = PartnerFactory(name="Buchhandlung Seite", slug="buchhandlung", programs=[program])
    erika, max_ = (
        membership_enroll(customer=CustomerFactory(), program=program, joined_at=at(2024, 1, 1))[0]
        for _ in range(2)
    )
    cinema = RewardFactory(program=program, name="Kinogutschein", points_cost=100)
    staff = StaffFactory()

    # 2024: Max earns 40 points at A; they expire 24 months later, in March 2026.
    buy(bakery, max_, "40.00", at(2024, 3, 10), "A-2024-1")
    points_release_due(now=at(2024, 3, 18))

    # February 2026: Erika earns 200 points at A (available from the 27th).
    february = buy(bakery, erika, "200.00", at(2026, 2, 20, 10), "A-0220")
    points_release_due(now=at(2026, 2, 28))

    # March 2026.
    march = buy(bakery, erika, "300.00", at(2026, 3, 2, 10), "A-0302")  # A +300 pending
    buy(bookshop, max_, "150.00", at(2026, 3, 3, 10), "B-0303")  # B +150 pending
    refund(february, "R-0305", "20.00", at(2026, 3, 5))  # -20, counts in February
    points_release_due(now=at(2026, 3, 10, 13))  # 300 and 150 become available
    points_expire_due(now=at(2026, 3, 11, 3))  # Max's 40 from 2024 expire
    refund(march, "R-0312", "50.00", at(2026, 3, 12))  # A -50
    used = redeem_in_portal(erika, cinema, at(2026, 3, 14, 9))  # voucher 1
    cancelled = redeem_in_portal(erika, cinema, at(2026, 3, 14, 10))  # voucher 2
    unused = redeem_in_portal(max_, cinema, at(2026, 3, 15))  # voucher 3
    use_at(used, bookshop, at(2026, 3, 16, 15))  # voucher 1 used at B
    with clock(at(2026, 3, 18, 11)):  # Erika pays 6.00 of an order at A with points
        hold, _ = hold_place(
            membership=erika,
            partner=bakery,
            amount=Decimal("10.00"),
            idempotency_key="till-7",
            order_reference="A-KASSE-7",
        )
        hold_capture(hold=hold, amount=Decimal("6.00"))  # 120 of 200 held points
    order = buy(bakery, erika, "30.00", at(2026, 3, 18, 11, 10), "A-KASSE-7")  # A +30
    with clock(at(2026, 3, 20)):
        redemption_cancel(redemption=cancelled, actor=Actor.for_customer(), at=at(2026, 3, 20))
    refund(order, "R-0325", "15.00", at(2026, 3, 25, 10))  # A -15 earned, -60 paid
    with clock(at(2026, 3, 26)):
        points_adjust(
            membership=max_, points=25, reason="Kulanz", user=staff, idempotency_key="adj-1"
        )
        points_adjust(
            membership=erika, points=-10, reason="Korrektur", user=staff, idempotency_key="adj-2"
        )

    # April 2026: Max earns 80 points at B.
    buy(bookshop, max_, "80.00", at(2026, 4, 2), "B-0402")
    return Coalition(
        program=program,
        bakery=bakery,
        bookshop=bookshop,
        erika=erika,
        max=max_,
        vouchers={"used": used, "cancelled": cancelled, "unused": unused},
    )
