"""Staff define programs in the admin: settings in fieldsets, rules and tiers inline."""

from decimal import Decimal

import pytest
from django.urls import reverse

from programs.models import EarnRule, Partner, Program, Tier
from tests.factories import StaffFactory

INLINES = ("tiers", "earn_rules", "action_rules")


@pytest.fixture
def staff_client(client, db):
    client.force_login(StaffFactory())
    return client


def program_data(**changes):
    data = {
        "name": "Bonusclub",
        "slug": "bonusclub",
        "description": "",
        "is_active": "on",
        "currency": "EUR",
        "history_starts_on": "2024-01-01",
        "points_per_unit": "1",
        "rounding": "down",
        "min_purchase_amount": "0",
        "rule_combination": "stack",
        "pending_days": "14",
        "expiry_policy": "fixed_period",
        "expiry_months": "24",
        "redemption_order": "soonest_expiring",
        "return_policy": "within_available",
        "point_value": "0.01",
        "tier_metric": "spend",
        "tier_window": "rolling_12_months",
        "downgrade_mode": "one_step",
        "downgrade_grace_days": "0",
        "approaching_tier_percent": "10",
        "referrer_points": "500",
        "referee_points": "200",
        "referral_min_purchase": "20",
        "referral_cap": "10",
        "referral_cap_days": "365",
        "birthday_points": "0",
        "anniversary_points": "0",
        "accounts_pool": "on",
        "transfer_daily_limit": "2000",
        "transfer_yearly_limit": "20000",
        "transfer_min_age_days": "30",
        "transfer_review_above": "5000",
    }
    for prefix in INLINES:
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    return {**data, **changes}


def tier_rows(*rows):
    data = {"tiers-TOTAL_FORMS": str(len(rows))}
    for i, row in enumerate(rows):
        data |= {f"tiers-{i}-{key}": value for key, value in row.items()}
    return data


def test_program_with_tiers_and_rules_is_defined_in_one_form(staff_client):
    data = program_data(
        **tier_rows(
            {"name": "Bronze", "rank": "0", "kind": "qualified", "threshold": "0"},
            {"name": "Gold", "rank": "1", "kind": "qualified", "threshold": "1500"},
        ),
        **{
            "tiers-0-earn_multiplier": "1",
            "tiers-1-earn_multiplier": "1.5",
            "earn_rules-TOTAL_FORMS": "1",
            "earn_rules-0-name": "Gift cards",
            "earn_rules-0-category": "giftcards",
            "earn_rules-0-multiplier": "0",
            "earn_rules-0-excluded": "on",
            "earn_rules-0-is_active": "on",
        },
    )
    response = staff_client.post(reverse("admin:programs_program_add"), data)

    assert response.status_code == 302
    program = Program.objects.get(slug="bonusclub")
    assert [(t.name, t.earn_multiplier) for t in program.tiers.order_by("rank")] == [
        ("Bronze", Decimal("1.00")),
        ("Gold", Decimal("1.50")),
    ]
    assert EarnRule.objects.get(program=program).excluded


def test_subscription_tier_without_price_is_a_form_error(staff_client):
    data = program_data(**tier_rows({"name": "VIP", "rank": "5", "kind": "subscription"}))
    data["tiers-0-earn_multiplier"] = "1"
    data["tiers-0-threshold"] = "0"
    response = staff_client.post(reverse("admin:programs_program_add"), data)

    assert response.status_code == 200
    assert "Eine Abo-Stufe braucht einen Preis und einen Zeitraum." in response.content.decode()
    assert not Program.objects.exists()
    assert not Tier.objects.exists()


def test_partner_takes_part_in_programs(staff_client):
    program = Program.objects.create(name="Bonusclub", slug="bonusclub")
    response = staff_client.post(
        reverse("admin:programs_partner_add"),
        {"name": "Shop", "slug": "shop", "is_active": "on", "programs": [program.pk]},
    )
    assert response.status_code == 302
    assert list(Partner.objects.get(slug="shop").programs.all()) == [program]
