"""Rewards catalogue, redemptions and their cancellation, actions."""

from datetime import timedelta

import pytest
from django.utils import timezone

from programs.models import ActionRule, LimitPeriod, Redemption, Tier
from tests.api.conftest import assert_problem, enroll
from tests.factories import ProgramFactory, RewardFactory


@pytest.fixture
def catalogue(program):
    gold = Tier.objects.get(program=program, name="Gold")
    return {
        "cheap": RewardFactory(program=program, name="cheap", points_cost=100),
        "dear": RewardFactory(program=program, name="dear", points_cost=1000),
        "gold": RewardFactory(program=program, name="gold", points_cost=50, min_tier=gold),
        "gone": RewardFactory(program=program, name="gone", points_cost=10, stock=0),
        "once": RewardFactory(program=program, name="once", points_cost=20, per_member_limit=1),
        "off": RewardFactory(program=program, name="off", points_cost=10, is_active=False),
        "later": RewardFactory(
            program=program,
            name="later",
            points_cost=10,
            active_from=timezone.now() + timedelta(days=1),
        ),
    }


def test_catalogue_flags(api, member, catalogue):
    api.post("/api/v1/members/c-1/redemptions", {"reward": catalogue["once"].pk})
    body = api.get("/api/v1/members/c-1/rewards").json()
    items = {r["name"]: r for r in body["rewards"]}
    assert set(items) == {"cheap", "dear", "gold", "gone", "once"}
    assert items["cheap"]["redeemable"] is True
    assert items["cheap"]["unavailable_reason"] is None
    assert items["dear"]["affordable"] is False
    assert items["dear"]["unavailable_reason"] == "insufficient_points"
    assert items["gold"]["tier_locked"] is True
    assert items["gold"]["min_tier"] == "Gold"
    assert items["gold"]["unavailable_reason"] == "tier_too_low"
    assert items["gone"]["in_stock"] is False
    assert items["gone"]["unavailable_reason"] == "out_of_stock"
    assert items["once"]["limit_reached"] is True
    assert items["once"]["unavailable_reason"] == "redemption_limit_reached"
    assert [r["points_cost"] for r in body["rewards"]] == sorted(
        r["points_cost"] for r in body["rewards"]
    )


def test_catalogue_of_one_program(api, member, catalogue, partner):
    other = ProgramFactory(slug="kaffee")
    partner.programs.add(other)
    RewardFactory(program=other, name="coffee")
    enroll(api, "c-1", programs=["kaffee"])
    both = api.get("/api/v1/members/c-1/rewards").json()["rewards"]
    assert "coffee" in {r["name"] for r in both}
    only = api.get("/api/v1/members/c-1/rewards?program=kaffee").json()["rewards"]
    assert [r["name"] for r in only] == ["coffee"]


def test_redeem_returns_a_voucher(api, member, reward):
    response = api.post("/api/v1/members/c-1/redemptions", {"reward": reward.pk})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "issued"
    assert body["points"] == 100
    assert body["member"] == "c-1"
    assert len(body["voucher_code"]) == 14
    assert (
        api.get(f"/api/v1/redemptions/{body['id']}").json()["voucher_code"]
        == (body["voucher_code"])
    )
    member.refresh_from_db()
    assert member.balance == 200


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("dear", 409, "insufficient_points"),
        ("gold", 409, "tier_too_low"),
        ("gone", 409, "out_of_stock"),
        ("off", 409, "reward_unavailable"),
        ("later", 409, "reward_unavailable"),
    ],
)
def test_redeem_refusals(api, member, catalogue, name, status, code):
    response = api.post("/api/v1/members/c-1/redemptions", {"reward": catalogue[name].pk})
    assert_problem(response, status, code)
    assert not Redemption.objects.exists()


def test_insufficient_points_tells_what_is_missing(api, member, catalogue):
    body = assert_problem(
        api.post("/api/v1/members/c-1/redemptions", {"reward": catalogue["dear"].pk}),
        409,
        "insufficient_points",
    )
    assert (body["needed"], body["available"]) == (1000, 300)


@pytest.mark.parametrize(
    "body", [{}, {"reward": "abc"}, {"reward": 0}, {"reward": 999999}, {"reward": 1, "points": 1}]
)
def test_redeem_validation(api, member, reward, body):
    assert_problem(api.post("/api/v1/members/c-1/redemptions", body), 400, "validation_error")


def test_reward_of_a_program_the_member_is_not_in_is_400(api, member, partner):
    other = ProgramFactory(slug="kaffee")
    partner.programs.add(other)
    coffee = RewardFactory(program=other, points_cost=1)
    body = assert_problem(
        api.post("/api/v1/members/c-1/redemptions", {"reward": coffee.pk}),
        400,
        "validation_error",
    )
    assert body["errors"][0]["code"] == "does_not_exist"


def test_cancel_gives_points_back_once(api, member, reward):
    redemption = api.post("/api/v1/members/c-1/redemptions", {"reward": reward.pk}).json()
    response = api.post(f"/api/v1/redemptions/{redemption['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    member.refresh_from_db()
    assert member.balance == 300
    reward.refresh_from_db()
    assert reward.stock == 5
    assert_problem(
        api.post(f"/api/v1/redemptions/{redemption['id']}/cancel"),
        409,
        "redemption_not_cancellable",
    )
    assert_problem(api.post("/api/v1/redemptions/999999/cancel"), 404, "redemption_not_found")


def test_cancel_takes_no_body(api, member, reward):
    redemption = api.post("/api/v1/members/c-1/redemptions", {"reward": reward.pk}).json()
    assert_problem(
        api.post(f"/api/v1/redemptions/{redemption['id']}/cancel", {"reason": "x"}),
        400,
        "validation_error",
    )


@pytest.fixture
def review_rule(program):
    return ActionRule.objects.create(
        program=program,
        code="review_written",
        name="Review",
        points=25,
        limit_count=2,
        limit_period=LimitPeriod.LIFETIME,
    )


def test_action_earns_once_per_reference(api, member, review_rule):
    body = {"code": "review_written", "reference": "rev-1"}
    first = api.post("/api/v1/members/c-1/actions", body)
    assert first.status_code == 201
    assert first.json()["points"] == 25
    assert first.json()["program"] == "treue"
    again = api.post("/api/v1/members/c-1/actions", body)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    member.refresh_from_db()
    assert member.balance == 325


def test_action_limit_and_unknown_code(api, member, review_rule):
    for ref in ("a", "b"):
        api.post("/api/v1/members/c-1/actions", {"code": "review_written", "reference": ref})
    assert_problem(
        api.post("/api/v1/members/c-1/actions", {"code": "review_written", "reference": "c"}),
        409,
        "action_limit_reached",
    )
    body = assert_problem(
        api.post("/api/v1/members/c-1/actions", {"code": "dance", "reference": "d"}),
        422,
        "unknown_action",
    )
    assert body["errors"][0]["field"] == "code"


@pytest.mark.parametrize(
    "body",
    [
        {"reference": "x"},
        {"code": "review_written"},
        {"code": "Not a slug!", "reference": "x"},
        {"code": "review_written", "reference": "x", "points": 1000},
        {
            "code": "review_written",
            "reference": "x",
            "occurred_at": (timezone.now() + timedelta(days=1)).isoformat(),
        },
    ],
)
def test_action_validation(api, member, review_rule, body):
    assert_problem(api.post("/api/v1/members/c-1/actions", body), 400, "validation_error")
    member.refresh_from_db()
    assert member.balance == 300
