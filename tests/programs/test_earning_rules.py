"""Spend-based earning: points per unit, rounding, minimum, SKU/category rules, exclusions,
campaigns (window, stack vs best of, per-member cap), tier multiplier, saved breakdown."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from programs.models import (
    Campaign,
    CampaignAward,
    EarnRule,
    LedgerEntry,
    PurchaseStatus,
    Rounding,
    RuleCombination,
)
from programs.services.memberships import membership_enroll
from tests.factories import CustomerFactory
from tests.programs.bookkeeping import assert_books_balance, program_set


def line(amount, category="", sku="", quantity=1):
    return {"sku": sku, "category": category, "quantity": quantity, "unit_price": Decimal(amount)}


def running_campaign(program, **fields):
    now = timezone.now()
    fields.setdefault("starts_at", now - timedelta(days=1))
    fields.setdefault("ends_at", now + timedelta(days=1))
    return Campaign.objects.create(program=program, name=fields.pop("name", "Aktion"), **fields)


@pytest.mark.parametrize(
    ("per_unit", "rounding", "amount", "expected"),
    [
        ("1", Rounding.DOWN, "10.99", 10),  # 10.99 -> 10
        ("1", Rounding.NEAREST, "10.49", 10),  # 10.49 -> 10
        ("1", Rounding.NEAREST, "10.50", 11),  # half up: 10.50 -> 11
        ("2", Rounding.DOWN, "49.95", 99),  # 49.95 x 2 = 99.90 -> 99
        ("2", Rounding.NEAREST, "49.95", 100),  # 99.90 -> 100
        ("0.5", Rounding.DOWN, "25.00", 12),  # 25 x 0.5 = 12.5 -> 12
        ("0.5", Rounding.NEAREST, "25.00", 13),  # 12.5 -> 13
    ],
)
def test_points_per_unit_and_rounding(
    program, membership, buy, per_unit, rounding, amount, expected
):
    program_set(program, points_per_unit=Decimal(per_unit), rounding=rounding)
    purchase = buy(membership, amount)
    membership.refresh_from_db()
    assert purchase.status == PurchaseStatus.AWARDED
    assert purchase.points_awarded == expected
    assert purchase.breakdown["base_points"] == expected
    assert membership.balance == expected
    assert_books_balance(membership)


@pytest.mark.parametrize(("rounding", "expected"), [(Rounding.DOWN, 1), (Rounding.NEAREST, 2)])
def test_base_points_are_rounded_once_per_purchase_not_per_line(
    program, membership, buy, rounding, expected
):
    program_set(program, rounding=rounding)
    # three lines of 0.60: per line that would be 0 (down) or 3 (nearest); the purchase
    # total 1.80 rounds to 1 (down) or 2 (nearest)
    purchase = buy(
        membership, "1.80", lines=[line("0.60", sku="A"), line("0.60", sku="B"), line("0.60")]
    )
    assert purchase.points_awarded == expected


def test_purchase_below_minimum_earns_nothing(program, membership, buy):
    program_set(program, min_purchase_amount=Decimal("10.00"))
    small = buy(membership, "9.99")
    assert small.status == PurchaseStatus.AWARDED
    assert small.points_awarded == 0
    assert small.breakdown == {
        "base_points": 0,
        "campaign_points": {},
        "below_minimum": True,
        "total": 0,
    }
    assert not LedgerEntry.objects.filter(membership=membership).exists()
    enough = buy(membership, "10.00")  # exactly the minimum counts: 10 points
    membership.refresh_from_db()
    assert enough.points_awarded == 10
    assert enough.breakdown["below_minimum"] is False
    assert membership.balance == 10


def test_sku_rule_beats_category_rule(program, membership, buy):
    EarnRule.objects.create(program=program, name="Wein x2", category="wein", multiplier=2)
    EarnRule.objects.create(program=program, name="Jahrgang x3", sku="W-777", multiplier=3)
    purchase = buy(
        membership,
        "24.00",
        lines=[
            line("10.00", category="wein", sku="W-777"),  # SKU rule: 10 x 3 = 30
            line("5.00", category="wein", sku="W-100", quantity=2),  # category: 10 x 2 = 20
            line("4.00", category="brot", sku="B-1"),  # no rule: 4
        ],
    )
    membership.refresh_from_db()
    assert purchase.points_awarded == 54  # 30 + 20 + 4
    assert membership.balance == 54
    shares = list(purchase.lines.order_by("line_no").values_list("points", flat=True))
    assert shares == [Decimal("30"), Decimal("20"), Decimal("4")]


def test_excluded_category_earns_nothing_and_takes_no_bonus(program, membership, buy):
    EarnRule.objects.create(program=program, name="Gutscheine", category="gutschein", excluded=True)
    gift_only = buy(membership, "50.00", lines=[line("50.00", category="gutschein")])
    assert gift_only.points_awarded == 0
    assert gift_only.status == PurchaseStatus.AWARDED

    running_campaign(program, multiplier=2)
    mixed = buy(
        membership,
        "89.90",
        lines=[
            line("50.00", category="gutschein"),
            line("19.95", category="schuhe", quantity=2),  # 39.90
        ],
    )
    # base: 39.90 -> 39; bonus: 39.90 x (2 - 1) -> 39; the gift card adds nothing to either
    assert mixed.points_awarded == 78
    assert mixed.breakdown["base_points"] == 39
    shares = list(mixed.lines.order_by("line_no").values_list("points", flat=True))
    # 39.90 base + 39.90 x (39 granted / 39.90 bonus) = 78.90
    assert shares == [Decimal("0"), Decimal("78.9")]
    membership.refresh_from_db()
    assert membership.balance == 78


def test_campaign_counts_only_inside_its_window(program, membership, buy):
    now = timezone.now()
    start, end = now - timedelta(days=10), now - timedelta(days=5)
    running_campaign(program, starts_at=start, ends_at=end, multiplier=2)
    at_start = buy(membership, "40.00", occurred_at=start)  # 40 + 40 bonus
    before_end = buy(membership, "40.00", occurred_at=end - timedelta(seconds=1))  # 40 + 40
    at_end = buy(membership, "40.00", occurred_at=end)  # window is [start, end): 40
    after = buy(membership, "40.00", occurred_at=now - timedelta(days=1))  # 40
    before = buy(membership, "40.00", occurred_at=start - timedelta(seconds=1))  # 40
    assert [p.points_awarded for p in (at_start, before_end, at_end, after, before)] == [
        80,
        80,
        40,
        40,
        40,
    ]
    membership.refresh_from_db()
    assert membership.balance == 280  # 80 + 80 + 40 + 40 + 40


def test_inactive_or_other_category_campaign_gives_no_bonus(program, membership, buy):
    running_campaign(program, multiplier=3, is_active=False)
    running_campaign(program, multiplier=2, categories=["wein"])
    purchase = buy(
        membership,
        "30.00",
        lines=[line("10.00", category="wein"), line("20.00", category="brot")],
    )
    # base 30; only the wein line takes the x2 bonus: 10; the inactive x3 counts nowhere
    assert purchase.points_awarded == 40


@pytest.mark.parametrize(
    ("combination", "rule_multiplier", "expected_base", "expected_bonus_a", "expected_bonus_b"),
    [
        # stack: 10 x 2 = 20; A adds 20 x (3 - 1) = 40; B adds 20 x (1.5 - 1) = 10
        (RuleCombination.STACK, "2", 20, 40, 10),
        # best of: A's x3 beats the rule's x2 -> base 10, A's bonus 10 x 2 = 20, B nothing
        (RuleCombination.BEST_OF, "2", 10, 20, None),
        # best of: the rule's x4 beats both campaigns -> 40, no bonus
        (RuleCombination.BEST_OF, "4", 40, None, None),
    ],
)
def test_stack_versus_best_of(
    program,
    membership,
    buy,
    combination,
    rule_multiplier,
    expected_base,
    expected_bonus_a,
    expected_bonus_b,
):
    program_set(program, rule_combination=combination)
    EarnRule.objects.create(
        program=program, name="Bio", category="bio", multiplier=Decimal(rule_multiplier)
    )
    a = running_campaign(program, name="Dreifach", multiplier=Decimal(3))
    b = running_campaign(program, name="Bio-Woche", multiplier=Decimal("1.5"), categories=["bio"])
    purchase = buy(membership, "10.00", lines=[line("10.00", category="bio")])
    expected_campaigns = {
        str(c.pk): points
        for c, points in ((a, expected_bonus_a), (b, expected_bonus_b))
        if points is not None
    }
    assert purchase.breakdown["base_points"] == expected_base
    assert purchase.breakdown["campaign_points"] == expected_campaigns
    total = expected_base + (expected_bonus_a or 0) + (expected_bonus_b or 0)
    assert purchase.points_awarded == total
    awards = dict(CampaignAward.objects.filter(purchase=purchase).values_list("campaign", "points"))
    assert awards == {int(k): v for k, v in expected_campaigns.items()}


def test_campaign_cap_per_member_across_purchases(program, membership, buy):
    campaign = running_campaign(program, multiplier=2, cap_per_member=15)
    first = buy(membership, "10.00")  # 10 + bonus 10 (cap left 15 -> 5)
    second = buy(membership, "10.00")  # 10 + bonus min(10, 5) = 5 (cap left 0)
    third = buy(membership, "10.00")  # 10 + bonus 0
    assert [p.points_awarded for p in (first, second, third)] == [20, 15, 10]
    assert first.breakdown["campaign_points"] == {str(campaign.pk): 10}
    assert second.breakdown["campaign_points"] == {str(campaign.pk): 5}
    assert third.breakdown["campaign_points"] == {}
    used = sum(CampaignAward.objects.filter(membership=membership).values_list("points", flat=True))
    assert used == 15
    membership.refresh_from_db()
    assert membership.balance == 45  # 20 + 15 + 10

    # the cap is per member: somebody else still gets the full bonus
    other, _ = membership_enroll(customer=CustomerFactory(), program=program)
    assert buy(other, "10.00").points_awarded == 20


def test_tier_earn_multiplier(program, membership, buy, tiers):
    qualifying = buy(membership, "1500.00")  # earned at Bronze (x1): 1500, then Gold
    membership.refresh_from_db()
    assert qualifying.points_awarded == 1500
    assert membership.tier == tiers["Gold"]
    assert buy(membership, "10.01").points_awarded == 15  # 10.01 x 1.5 = 15.015 -> 15
    running_campaign(program, multiplier=2)
    # the tier multiplier is part of the base the campaign doubles: 15 + 15
    assert buy(membership, "10.00").points_awarded == 30
    membership.refresh_from_db()
    assert membership.balance == 1545  # 1500 + 15 + 30


def test_breakdown_and_line_shares_are_saved(program, membership, buy):
    EarnRule.objects.create(program=program, name="Wein x2", category="wein", multiplier=2)
    EarnRule.objects.create(program=program, name="Gutscheine", category="gutschein", excluded=True)
    campaign = running_campaign(program, multiplier=2, categories=["wein"])
    purchase = buy(
        membership,
        "55.45",
        lines=[
            line("12.45", category="wein", quantity=2),  # 24.90 x 2 = 49.80, bonus 49.80
            line("25.00", category="gutschein"),  # excluded: 0
            line("5.55", category="haushalt"),  # 5.55
        ],
    )
    # base 49.80 + 5.55 = 55.35 -> 55; bonus 49.80 -> 49; total 104
    assert purchase.points_expected == 104
    assert purchase.points_awarded == 104
    assert purchase.breakdown == {
        "base_points": 55,
        "campaign_points": {str(campaign.pk): 49},
        "below_minimum": False,
        "total": 104,
    }
    shares = list(purchase.lines.order_by("line_no").values_list("points", flat=True))
    # wein: 49.80 + 49.80 x (49 / 49.80) = 98.80; shares are kept before rounding
    assert shares == [Decimal("98.8"), Decimal("0"), Decimal("5.55")]
    membership.refresh_from_db()
    assert membership.balance == 104
    assert_books_balance(membership)
