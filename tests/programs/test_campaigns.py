"""Targeted campaigns: one test per audience rule, condition, effect and limit, through the
real award path (``buy`` records and awards), plus the fixed audience and its holdout."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from programs.models import (
    Campaign,
    CampaignAward,
    CampaignEffect,
    CampaignMember,
    MembershipStatus,
    Segment,
    SegmentCondition,
)
from programs.services.campaigns import campaign_save, holdout_assign
from programs.services.memberships import membership_enroll
from tests.factories import CustomerFactory, PartnerFactory

BERLIN = ZoneInfo("Europe/Berlin")


def line(amount, category="", sku="", quantity=1):
    return {"sku": sku, "category": category, "quantity": quantity, "unit_price": Decimal(amount)}


def campaign(program, **fields):
    """A running campaign, saved as staff save it (its audience fixed if it has one)."""
    now = timezone.now()
    fields.setdefault("starts_at", now - timedelta(days=30))
    fields.setdefault("ends_at", now + timedelta(days=30))
    tiers = fields.pop("tiers", [])
    c = Campaign(program=program, name=fields.pop("name", "Aktion"), **fields)
    campaign_save(c)
    c.tiers.set(tiers)
    return c


def bonus(purchase, c) -> int:
    return purchase.breakdown["campaign_points"].get(str(c.pk), 0)


def local(*args) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def test_multiplier_doubles_the_base_points(program, membership, buy):
    c = campaign(program, multiplier=Decimal(2))
    purchase = buy(membership, "40.00")
    assert purchase.points_awarded == 80
    assert bonus(purchase, c) == 40


def test_fixed_bonus_adds_its_points_once_per_purchase(program, membership, buy):
    c = campaign(program, effect=CampaignEffect.FIXED, bonus_points=50)
    purchase = buy(membership, "9.99", lines=[line("3.33"), line("3.33"), line("3.33")])
    assert purchase.points_awarded == 9 + 50
    assert bonus(purchase, c) == 50
    # the line shares add up to the whole bonus (for returns line by line)
    shares = sum(li.points for li in purchase.lines.all())
    assert shares == Decimal("9.99") + 50


def test_fixed_bonus_needs_its_points(program):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        Campaign.objects.create(
            program=program,
            name="Leer",
            starts_at=timezone.now(),
            ends_at=timezone.now() + timedelta(days=1),
            effect=CampaignEffect.FIXED,
        )


def test_minimum_spend_counts_the_qualifying_lines(program, membership, buy):
    c = campaign(program, min_spend=Decimal("20.00"), categories=["Bohnen"])
    short = buy(membership, "30.00", lines=[line("15.00", "Bohnen"), line("15.00", "Tassen")])
    enough = buy(membership, "25.00", lines=[line("20.00", "Bohnen"), line("5.00", "Tassen")])
    assert bonus(short, c) == 0  # only 15.00 of beans
    assert bonus(enough, c) == 20  # doubled beans only


def test_weekdays_in_local_time(program, membership, buy):
    # Saturday and Sunday only; Sunday 00:30 in Berlin is Saturday 23:30 UTC
    c = campaign(program, weekdays=[5, 6], starts_at=local(2026, 1, 1), ends_at=local(2027, 1, 1))
    sunday = buy(membership, "10.00", occurred_at=local(2026, 11, 29, 0, 30))
    monday = buy(membership, "10.00", occurred_at=local(2026, 11, 30, 12, 0))
    assert bonus(sunday, c) == 10
    assert bonus(monday, c) == 0


@pytest.mark.parametrize(
    ("hour_from", "hour_until", "at_hour", "gets"),
    [
        (14, 17, 14, True),
        (14, 17, 17, False),  # until is exclusive
        (14, 17, 13, False),
        (22, 2, 23, True),  # over midnight
        (22, 2, 1, True),
        (22, 2, 2, False),
        (None, 10, 9, True),
        (18, None, 17, False),
    ],
)
def test_hours_in_local_time(program, membership, buy, hour_from, hour_until, at_hour, gets):
    c = campaign(
        program,
        hour_from=hour_from,
        hour_until=hour_until,
        starts_at=local(2026, 1, 1),
        ends_at=local(2027, 1, 1),
    )
    purchase = buy(membership, "10.00", occurred_at=local(2026, 11, 25, at_hour, 15))
    assert bonus(purchase, c) == (10 if gets else 0)


def test_categories_and_skus(program, membership, buy):
    c = campaign(program, categories=["Bohnen"], skus=["TASSE-1"])
    purchase = buy(
        membership,
        "30.00",
        lines=[
            line("10.00", "Bohnen", "B-1"),  # by category
            line("8.00", "Zubehör", "TASSE-1"),  # by SKU
            line("12.00", "Zubehör", "FILTER"),  # neither
        ],
    )
    assert bonus(purchase, c) == 18


def test_first_purchase_only(program, membership, buy):
    c = campaign(program, effect=CampaignEffect.FIXED, bonus_points=100, first_purchase_only=True)
    first = buy(membership, "10.00")
    second = buy(membership, "10.00")
    assert (bonus(first, c), bonus(second, c)) == (100, 0)


def test_first_purchase_only_in_one_batch(program, membership, partner, tiers):
    from programs.services.purchases import purchase_record, purchases_award

    c = campaign(program, effect=CampaignEffect.FIXED, bonus_points=100, first_purchase_only=True)
    ids = []
    for n in range(3):
        purchase, _ = purchase_record(
            partner=partner,
            membership=membership,
            order_id=f"F{n}",
            amount=Decimal(10),
            currency="EUR",
            occurred_at=timezone.now() - timedelta(minutes=5),
        )
        ids.append(purchase.pk)
    purchases_award(ids)
    assert CampaignAward.objects.filter(campaign=c).count() == 1


def test_tiers_audience(program, tiers, buy):
    gold, _ = membership_enroll(customer=CustomerFactory(), program=program)
    bronze, _ = membership_enroll(customer=CustomerFactory(), program=program)
    gold.tier = tiers["Gold"]
    gold.save(update_fields=["tier"])
    c = campaign(program, effect=CampaignEffect.FIXED, bonus_points=30, tiers=[tiers["Gold"]])
    assert bonus(buy(gold, "10.00"), c) == 30
    assert bonus(buy(bronze, "10.00"), c) == 0


def test_partner_condition_counts_only_that_partners_purchases(program, membership, buy):
    shop = PartnerFactory(programs=[program])
    c = campaign(program, effect=CampaignEffect.FIXED, bonus_points=25, partner=shop)
    assert bonus(buy(membership, "10.00", partner=shop), c) == 25
    assert bonus(buy(membership, "10.00"), c) == 0  # the fixture's other partner


def test_cap_per_member_day(program, membership, buy):
    c = campaign(program, cap_per_member_day=15, starts_at=local(2026, 1, 1))
    day1 = [buy(membership, "10.00", occurred_at=local(2026, 11, 20, h)) for h in (9, 12)]
    day2 = buy(membership, "10.00", occurred_at=local(2026, 11, 21, 9))
    assert [bonus(p, c) for p in day1] == [10, 5]  # 15 a day
    assert bonus(day2, c) == 10  # a new day
    days = set(CampaignAward.objects.filter(campaign=c).values_list("awarded_on", flat=True))
    assert {d.isoformat() for d in days} == {"2026-11-20", "2026-11-21"}


def test_budget_gives_the_last_award_what_is_left_and_stops(program, membership, buy):
    c = campaign(program, effect=CampaignEffect.FIXED, bonus_points=40, budget_points=100)
    awarded = [bonus(buy(membership, "10.00"), c) for _ in range(4)]
    assert awarded == [40, 40, 20, 0]
    c.refresh_from_db()
    assert (
        c.points_awarded
        == 100
        == sum(CampaignAward.objects.filter(campaign=c).values_list("points", flat=True))
    )


def test_draft_campaign_awards_nothing(program, membership, buy):
    c = campaign(program, is_active=False)
    assert bonus(buy(membership, "10.00"), c) == 0


def _segment_of_gold(program, tiers) -> Segment:
    segment = Segment.objects.create(program=program, name="Gold")
    SegmentCondition.objects.create(
        segment=segment, field="tier", operator="at_least", tier=tiers["Gold"]
    )
    return segment


def test_segment_audience_is_fixed_when_switched_on(program, tiers, buy):
    inside, _ = membership_enroll(customer=CustomerFactory(), program=program)
    inside.tier = tiers["Gold"]
    inside.save(update_fields=["tier"])
    c = campaign(program, segment=_segment_of_gold(program, tiers), effect="fixed", bonus_points=5)
    later, _ = membership_enroll(customer=CustomerFactory(), program=program)
    later.tier = tiers["Gold"]  # in the segment now, but joined after the campaign started
    later.save(update_fields=["tier"])
    assert bonus(buy(inside, "10.00"), c) == 5
    assert bonus(buy(later, "10.00"), c) == 0
    assert list(CampaignMember.objects.filter(campaign=c).values_list("membership", flat=True)) == [
        inside.pk
    ]


def test_holdout_members_get_no_bonus(program, tiers, buy):
    members = [membership_enroll(customer=CustomerFactory(), program=program)[0] for _ in range(40)]
    c = campaign(program, holdout_percent=50, effect=CampaignEffect.FIXED, bonus_points=7)
    held = set(
        CampaignMember.objects.filter(campaign=c, in_holdout=True).values_list(
            "membership", flat=True
        )
    )
    assert 0 < len(held) < 40
    for membership in members[:10]:
        expected = 0 if membership.pk in held else 7
        assert bonus(buy(membership, "5.00"), c) == expected


def test_holdout_draw_is_stable_close_to_the_share_and_the_same_in_sql(program):
    members = [
        membership_enroll(customer=CustomerFactory(), program=program)[0] for _ in range(300)
    ]
    c = campaign(program, holdout_percent=20)
    in_sql = dict(CampaignMember.objects.filter(campaign=c).values_list("membership", "in_holdout"))
    in_python = {m.pk: holdout_assign(c.pk, m.pk, 20) for m in members}
    assert in_sql == in_python
    share = sum(in_python.values()) / len(members)
    assert 0.13 < share < 0.27  # 20 % +- 3.5 standard errors of 300 draws
    # stable: freezing again changes nothing
    campaign_save(c)
    assert (
        dict(CampaignMember.objects.filter(campaign=c).values_list("membership", "in_holdout"))
        == in_sql
    )
    # and across many campaigns each member's draw is independent of the campaign id order
    draws = [holdout_assign(cid, members[0].pk, 20) for cid in range(1, 2001)]
    assert 0.17 < sum(draws) / len(draws) < 0.23


def test_inactive_members_are_not_in_the_audience(program):
    active, _ = membership_enroll(customer=CustomerFactory(), program=program)
    closed, _ = membership_enroll(customer=CustomerFactory(), program=program)
    closed.status = MembershipStatus.CLOSED
    closed.save(update_fields=["status"])
    c = campaign(program, holdout_percent=10)
    assert set(CampaignMember.objects.filter(campaign=c).values_list("membership", flat=True)) == {
        active.pk
    }
