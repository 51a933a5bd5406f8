"""A partner's dry run of one purchase: the points it would earn, each line's earn rule
and every campaign that applies; nothing is stored, and bad input is a 4xx."""

from datetime import timedelta

import pytest
from django.utils import timezone

from programs.models import Campaign, CampaignEffect, EarnRule, LedgerEntry, Purchase
from tests.api.conftest import assert_problem, buy, enroll

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaigns(program):
    now = timezone.now()
    window = {"starts_at": now - timedelta(days=1), "ends_at": now + timedelta(days=1)}
    return {
        "tea": Campaign.objects.create(
            program=program, name="Teewoche", categories=["tea"], multiplier=2, **window
        ),
        "welcome": Campaign.objects.create(
            program=program,
            name="Erster Einkauf",
            effect=CampaignEffect.FIXED,
            bonus_points=50,
            first_purchase_only=True,
            **window,
        ),
        "capped": Campaign.objects.create(
            program=program,
            name="Gedeckelt",
            effect=CampaignEffect.FIXED,
            bonus_points=10,
            budget_points=10,
            **window,
        ),
    }


def quote(api, **body):
    return api.post("/api/v1/purchases/quote", {"member": "c-1", **body}, format="json")


def test_quote_names_each_rule_and_campaign_and_stores_nothing(api, program, campaigns):
    enroll(api, "c-1")
    EarnRule.objects.create(program=program, name="Gutscheine", category="gift", excluded=True)
    response = quote(
        api,
        amount="40.00",
        lines=[
            {"sku": "T-1", "category": "tea", "quantity": 2, "unit_price": "10.00"},
            {"sku": "G-1", "category": "gift", "quantity": 1, "unit_price": "20.00"},
        ],
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    # base: 20 tea points (the gift card earns nothing); tea doubled: +20; first
    # purchase: +50; the capped campaign's budget: +10
    assert body["base_points"] == 20
    assert body["points"] == 20 + 20 + 50 + 10
    by_name = {c["name"]: c for c in body["campaigns"]}
    assert by_name["Teewoche"]["points"] == 20
    assert by_name["Erster Einkauf"]["points"] == 50
    assert by_name["Gedeckelt"] == {
        "id": campaigns["capped"].pk,
        "name": "Gedeckelt",
        "points": 10,
        "limited": True,
    }
    assert [(li["rule"], li["excluded"]) for li in body["lines"]] == [
        ("", False),
        ("Gutscheine", True),
    ]
    assert Purchase.objects.count() == 0
    assert LedgerEntry.objects.count() == 0


def test_quote_after_a_first_purchase_and_a_spent_budget(api, campaigns):
    enroll(api, "c-1")
    buy(api, "c-1", "5.00")  # takes the welcome bonus and the whole budget
    body = quote(api, amount="5.00").json()
    names = {c["name"]: c["points"] for c in body["campaigns"]}
    assert "Erster Einkauf" not in names
    assert "Gedeckelt" not in names  # spent: the campaign has stopped
    assert body["points"] == 5


def test_quote_errors_are_clear(api, campaigns):
    enroll(api, "c-1")
    assert_problem(quote(api, amount="-1"), 400, "validation_error")
    assert_problem(quote(api, amount="10.00", currency="USD"), 422, "currency_mismatch")
    unknown = api.post(
        "/api/v1/purchases/quote", {"member": "nobody", "amount": "1"}, format="json"
    )
    assert_problem(unknown, 404, "member_not_found")


def test_quote_is_scoped_to_the_partners_members(api, api_b):
    enroll(api, "c-1")
    response = api_b.post(
        "/api/v1/purchases/quote", {"member": "c-1", "amount": "1"}, format="json"
    )
    assert_problem(response, 404, "member_not_found")


def test_history_names_the_campaign_of_a_bonus(api, campaigns):
    enroll(api, "c-1")
    buy(api, "c-1", "7.00")
    entries = api.get("/api/v1/members/c-1/history").json()["results"]
    earn = next(e for e in entries if e["kind"] == "earn")
    assert earn["points"] == 7 + 50 + 10
    assert sorted(earn["campaign_bonuses"], key=lambda b: b["campaign"]) == [
        {"campaign": "Erster Einkauf", "points": 50},
        {"campaign": "Gedeckelt", "points": 10},
    ]
