"""The partner API's hot paths (balance reads, single purchases): few queries, same answers."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from programs.api.serializers.members import BalanceSerializer
from programs.balances import partner_member_balances
from programs.models import (
    Membership,
    PointLot,
    Purchase,
    SubscriptionPeriod,
    Tier,
    TierKind,
    TierMetric,
    TierWindow,
)
from programs.selectors import membership_balance
from programs.services.api_keys import api_key_revoke
from programs.services.subscriptions import tier_subscription_buy
from tests.api.conftest import assert_problem, buy, enroll
from tests.factories import ProgramFactory, standard_tiers


@pytest.fixture
def kaffee(partner):
    other = ProgramFactory(slug="kaffee", name="Kaffee")
    partner.programs.add(other)
    return other


def test_balance_read_costs_one_query(api, member, kaffee):
    api.get("/api/v1/members/c-1/balance")  # the key is now cached
    # member, memberships, tiers, expiring points, qualifying value and next tier: one
    # statement, whatever the number of programs
    for programs in (["treue"], ["treue", "kaffee"]):
        enroll(api, "c-1", programs=programs)
        with CaptureQueriesContext(connection) as queries:
            response = api.get("/api/v1/members/c-1/balance")
        assert len(queries) == 1, [q["sql"] for q in queries]
    assert len(response.json()["programs"]) == 2
    [balance] = api.get("/api/v1/members/c-1/balance?program=treue").json()["programs"]
    assert response.json()["external_id"] == "c-1"
    assert (balance["program"], balance["available"]) == ("treue", 300)
    assert balance["tier"] == {"name": "Bronze", "rank": 0}
    assert balance["tier_progress"]["next_tier"]["name"] == "Silber"


def balances_per_membership(partner, external_id, slug, days, now):
    """The balance as computed before #21: ``membership_balance`` per membership."""
    memberships = Membership.objects.filter(
        customer__partner_links__partner=partner,
        customer__partner_links__external_id=external_id,
        program__partners=partner,
    ).order_by("program__slug")
    if slug:
        memberships = memberships.filter(program__slug=slug)
    return [
        membership_balance(membership=m, expiring_within_days=days, now=now) for m in memberships
    ]


def test_one_query_balance_equals_the_per_membership_figures(api, partner, program, kaffee):
    """Spend in a rolling window with a return, a backdated purchase and a subscription fee;
    points earned in a calendar year; expiring lots; a member above, at and below the tiers."""
    kaffee.tier_metric, kaffee.tier_window = TierMetric.POINTS, TierWindow.CALENDAR_YEAR
    kaffee.save()
    standard_tiers(kaffee)
    now = timezone.now()
    enroll(api, "c-1", programs=["treue", "kaffee"])
    gold = buy(api, "c-1", "1600.00", program="treue")
    buy(
        api,
        "c-1",
        "900.00",
        program="treue",
        order_id="old",
        occurred_at=(now - timedelta(days=500)).isoformat(),
    )
    assert api.post(
        f"/api/v1/purchases/{gold['id']}/refunds",
        {"refund_id": "r-1", "amount": "100.00"},
        format="json",
    ).status_code in (200, 201)
    buy(api, "c-1", "700.00", program="kaffee", order_id="k-1")
    vip = Tier.objects.create(
        program=program,
        name="VIP",
        rank=10,
        kind=TierKind.SUBSCRIPTION,
        subscription_price=Decimal("600.00"),
        subscription_period=SubscriptionPeriod.MONTH,
    )
    treue = Membership.objects.get(program=program, customer__partner_links__external_id="c-1")
    tier_subscription_buy(membership=treue, tier=vip, partner=partner, order_id="VIP-1")
    lots = PointLot.objects.filter(membership__program=kaffee)
    lots.update(expires_at=now + timedelta(days=10))
    PointLot.objects.filter(membership=treue).update(expires_at=now + timedelta(days=200))
    enroll(api, "c-top", programs=["treue"])
    buy(api, "c-top", "6000.00", order_id="top")
    enroll(api, "c-none", programs=["kaffee"])
    Membership.objects.filter(customer__partner_links__external_id="c-none").update(
        tier=None, qualified_tier=None
    )

    treue.refresh_from_db()
    assert (treue.tier.name, treue.qualified_tier.name) == ("VIP", "Gold")
    compared = 0
    for external_id in ("c-1", "c-top", "c-none"):
        for slug in (None, "treue", "kaffee"):
            for days in (5, 90, 365):
                new = partner_member_balances(
                    partner=partner,
                    external_id=external_id,
                    program_slug=slug,
                    expiring_within_days=days,
                    now=now,
                )
                old = balances_per_membership(partner, external_id, slug, days, now)
                body = {"external_id": external_id}
                assert (
                    BalanceSerializer({**body, "programs": new}).data
                    == BalanceSerializer({**body, "programs": old}).data
                )
                compared += len(old)
    assert compared == 3 * (4 + 2 + 2)  # per horizon: c-1 in 2 + 1 + 1 cases, the others 1 + 1

    [kaffee_now, treue_now] = api.get(
        "/api/v1/members/c-1/balance?expiring_within_days=365"
    ).json()["programs"]
    assert treue_now["tier"] == {"name": "VIP", "rank": 10}
    assert treue_now["tier_progress"]["qualifying_value"] == "1500.00"  # 1600 - 100 returned
    assert treue_now["tier_progress"]["next_tier"]["name"] == "Platin"
    assert [e["points"] for e in treue_now["expiring"]] == [treue_now["available"]]  # all lots
    assert kaffee_now["tier_progress"]["metric"] == "points"
    assert kaffee_now["tier_progress"]["qualifying_value"] == "700.00"
    assert kaffee_now["tier_progress"]["gap"] == "800.00"
    [top] = api.get("/api/v1/members/c-top/balance").json()["programs"]
    assert (top["tier_progress"]["next_tier"], top["tier_progress"]["gap"]) == (None, None)
    [none] = api.get("/api/v1/members/c-none/balance").json()["programs"]
    assert none["tier"] is None
    assert none["tier_progress"]["next_tier"] == {"name": "Bronze", "rank": 0, "threshold": "0.00"}


def test_balance_lists_each_program_or_the_one_asked_for(api, member, kaffee):
    enroll(api, "c-1", programs=["treue", "kaffee"])
    programs = api.get("/api/v1/members/c-1/balance").json()["programs"]
    assert [(p["program"], p["available"]) for p in programs] == [("kaffee", 0), ("treue", 300)]
    only = api.get("/api/v1/members/c-1/balance?program=treue").json()["programs"]
    assert [p["program"] for p in only] == ["treue"]


def test_balance_errors_are_unchanged(api, api_b, member, member_b, kaffee):
    assert_problem(api.get("/api/v1/members/nobody/balance"), 404, "member_not_found")
    assert_problem(api.get("/api/v1/members/m-1/balance"), 404, "member_not_found")  # B's
    unknown = assert_problem(
        api.get("/api/v1/members/c-1/balance?program=nope"), 400, "validation_error"
    )
    assert "None of your programs has this slug" in unknown["detail"]
    response = api.get("/api/v1/members/c-1/balance?program=kaffee")
    assert response.status_code == 422
    enroll(api, "c-none", programs=[])
    assert api.get("/api/v1/members/c-none/balance").json()["programs"] == []


def test_revoked_key_is_refused_at_once_although_cached(api, member):
    assert api.get("/api/v1/members/c-1/balance").status_code == 200
    assert api.get("/api/v1/members/c-1/balance").status_code == 200  # served from cache
    api_key_revoke(api_key=api.api_key)
    assert_problem(api.get("/api/v1/members/c-1/balance"), 401, "invalid_api_key")


def test_a_cached_key_still_needs_the_right_secret(api, member):
    assert api.get("/api/v1/members/c-1/balance").status_code == 200
    forged = api.plaintext[:-1] + ("A" if api.plaintext[-1] != "A" else "B")
    response = APIClient().get("/api/v1/members/c-1/balance", HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert_problem(response, 401, "invalid_api_key")


def test_single_purchase_costs_few_queries(api, member, django_assert_max_num_queries):
    body = {"member": "c-1", "order_id": "q-1", "amount": "12.50"}
    # member lookup 1, program check, existing order, earn rules, campaigns, insert
    # (+ its savepoint pair): at most 8; the key comes from the cache
    with django_assert_max_num_queries(8):
        response = api.post("/api/v1/purchases", body, format="json")
    assert response.status_code == 202
    assert Purchase.objects.filter(order_id="q-1", membership=member).exists()


def test_created_purchase_answer_equals_the_stored_purchase(api, member):
    body = {
        "member": "c-1",
        "order_id": "q-lines",
        "amount": "30.00",
        "lines": [
            {"sku": "TEA-1", "category": "tea", "quantity": 2, "unit_price": "10.00"},
            {"sku": "CUP-1", "category": "cups", "quantity": 1, "unit_price": "10.00"},
        ],
    }
    created = api.post("/api/v1/purchases", body, format="json")
    assert created.status_code == 202
    stored = api.get(created["Location"]).json()
    assert created.json() == stored
    assert [line["line_no"] for line in stored["lines"]] == [1, 2]

    plain = api.post(
        "/api/v1/purchases", {"member": "c-1", "order_id": "q-2", "amount": "5"}, format="json"
    )
    assert plain.json() == api.get(plain["Location"]).json()
    assert plain.json()["lines"] == []
    assert plain.json()["refunds"] == []

    again = api.post("/api/v1/purchases", body, format="json")
    assert (again.status_code, again.json()) == (200, stored)


def test_purchase_for_a_member_in_two_programs(api, member, kaffee):
    enroll(api, "c-1", programs=["treue", "kaffee"])
    body = {"member": "c-1", "order_id": "two-1", "amount": "10.00"}
    assert_problem(api.post("/api/v1/purchases", body, format="json"), 400, "validation_error")
    response = api.post("/api/v1/purchases", {**body, "program": "kaffee"}, format="json")
    assert (response.status_code, response.json()["program"]) == (202, "kaffee")


def test_purchase_errors_are_unchanged(api, api_b, member, member_b):
    body = {"order_id": "e-1", "amount": "10.00"}
    missing = api.post("/api/v1/purchases", {**body, "member": "nobody"}, format="json")
    assert_problem(missing, 400, "validation_error")
    assert "enroll them first" in str(missing.json())
    theirs = api.post("/api/v1/purchases", {**body, "member": "m-1"}, format="json")
    assert_problem(theirs, 400, "validation_error")
    unknown = api.post(
        "/api/v1/purchases", {**body, "member": "c-1", "program": "x"}, format="json"
    )
    assert_problem(unknown, 400, "validation_error")


def test_idempotent_purchase_replays_the_first_answer(api, member):
    body = {"member": "c-1", "order_id": "idem-1", "amount": "10.00"}
    first = api.post("/api/v1/purchases", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post("/api/v1/purchases", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Purchase.objects.filter(order_id="idem-1").count() == 1
    buy(api, "c-1", "1.00", order_id="after")  # the key's partner is still served
