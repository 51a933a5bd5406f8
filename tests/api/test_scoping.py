"""Partner A never reaches partner B's members, purchases or redemptions: not by guessing
ids, not by using B's external ids, not through list filters. Everything is a 404."""

import pytest

from customers.models import Customer
from programs.models import Membership, Purchase, Redemption, RedemptionStatus
from tests.api.conftest import assert_problem, buy, client_for, enroll, enroll_confirmed
from tests.factories import PartnerFactory, ProgramFactory, RewardFactory


@pytest.fixture
def b_world(api_b, member_b, reward):
    """B's member m-1 with a purchase and a redemption; returns their ids."""
    purchase = Purchase.objects.get(membership=member_b)
    redemption = api_b.post("/api/v1/members/m-1/redemptions", {"reward": reward.pk}).json()
    return {"purchase": purchase.pk, "redemption": redemption["id"]}


MEMBER_READS = ["", "/balance", "/history", "/rewards", "/referral"]


@pytest.mark.parametrize("suffix", MEMBER_READS)
def test_a_cannot_read_bs_member_by_external_id(api, b_world, suffix):
    assert_problem(api.get(f"/api/v1/members/m-1{suffix}"), 404, "member_not_found")


def test_a_cannot_write_for_bs_member(api, b_world, reward, member_b):
    assert_problem(
        api.post("/api/v1/members/m-1/redemptions", {"reward": reward.pk}),
        404,
        "member_not_found",
    )
    assert_problem(
        api.post("/api/v1/members/m-1/actions", {"code": "x", "reference": "y"}),
        404,
        "member_not_found",
    )
    body = assert_problem(
        api.post("/api/v1/purchases", {"member": "m-1", "order_id": "o", "amount": "1.00"}),
        400,
        "validation_error",
    )
    assert body["errors"][0]["code"] == "member_not_found"
    batch = api.post(
        "/api/v1/purchases/batch",
        {"purchases": [{"member": "m-1", "order_id": "o", "amount": "1.00"}]},
    ).json()
    assert batch["results"][0]["problem"]["errors"][0]["code"] == "member_not_found"
    member_b.refresh_from_db()
    assert member_b.balance == 200
    assert Purchase.objects.filter(membership=member_b).count() == 1
    assert Redemption.objects.filter(membership=member_b).count() == 1


def test_a_using_bs_external_id_gets_its_own_member(api, b_world, member_b):
    enroll(api, "m-1", email="someone-else@example.com", first_name="Mallory")
    theirs = Customer.objects.get(pk=member_b.customer_id)
    assert (theirs.email, theirs.first_name) == ("m-1@example.com", "")
    mine = api.get("/api/v1/members/m-1").json()
    assert mine["email"] == "someone-else@example.com"
    assert mine["memberships"][0]["available"] == 0


def test_a_cannot_guess_bs_purchase_or_redemption_ids(api, b_world):
    purchase, redemption = b_world["purchase"], b_world["redemption"]
    assert_problem(api.get(f"/api/v1/purchases/{purchase}"), 404, "purchase_not_found")
    assert_problem(
        api.post(f"/api/v1/purchases/{purchase}/refunds", {"refund_id": "r", "amount": "1.00"}),
        404,
        "purchase_not_found",
    )
    assert_problem(api.get(f"/api/v1/redemptions/{redemption}"), 404, "redemption_not_found")
    assert_problem(
        api.post(f"/api/v1/redemptions/{redemption}/cancel"), 404, "redemption_not_found"
    )
    assert Purchase.objects.get(pk=purchase).refunded_amount == 0
    assert Redemption.objects.get(pk=redemption).status == RedemptionStatus.ISSUED


def test_read_only_guessing_is_404_not_403(api_read, b_world):
    assert_problem(
        api_read.get(f"/api/v1/purchases/{b_world['purchase']}"), 404, "purchase_not_found"
    )


@pytest.mark.parametrize(
    "query", ["", "?program=treue", "?tier=Bronze", "?updated_since=2000-01-01T00:00:00Z"]
)
def test_lists_never_show_bs_members(api, member, b_world, query):
    results = api.get(f"/api/v1/members{query}").json()["results"]
    assert [m["external_id"] for m in results] == ["c-1"]


def test_list_filter_by_bs_program_is_refused(api, b_world, partner_b):
    exclusive = ProgramFactory(slug="exklusiv")
    partner_b.programs.add(exclusive)
    assert_problem(api.get("/api/v1/members?program=exklusiv"), 400, "validation_error")


def test_a_cannot_enroll_in_bs_program(api, partner_b):
    exclusive = ProgramFactory(slug="exklusiv")
    partner_b.programs.add(exclusive)
    body = assert_problem(
        api.put("/api/v1/members/c-9", {"programs": ["exklusiv"]}), 400, "validation_error"
    )
    assert body["errors"][0]["code"] == "unknown_program"
    assert not Membership.objects.filter(program=exclusive).exists()


def test_shared_customer_shows_only_the_partners_own_programs_and_purchases(
    api, api_b, partner_b, member_b, b_world
):
    exclusive = ProgramFactory(slug="exklusiv")
    partner_b.programs.add(exclusive)
    enroll(api_b, "m-1", programs=["exklusiv"])
    # A links the same person (same e-mail, confirmed): it sees the shared program only.
    body = enroll_confirmed(api, "c-shared", email="m-1@example.com")
    assert [m["program"] for m in body["memberships"]] == ["treue"]
    for suffix in ("/balance", "/rewards", "/referral"):
        programs = api.get(f"/api/v1/members/c-shared{suffix}").json()
        assert "exklusiv" not in str(programs)
    history = api.get("/api/v1/members/c-shared/history").json()["results"]
    assert {e["program"] for e in history} == {"treue"}
    assert all(e["purchase_id"] is None and e["order_id"] is None for e in history)
    assert_problem(api.get(f"/api/v1/purchases/{b_world['purchase']}"), 404, "purchase_not_found")


def test_redemption_in_a_program_a_is_not_in_is_hidden(api, api_b, partner_b):
    exclusive = ProgramFactory(slug="exklusiv", pending_days=0)
    partner_b.programs.add(exclusive)
    enroll(api_b, "m-2", programs=["exklusiv"])
    buy(api_b, "m-2", "50.00")
    perk = RewardFactory(program=exclusive, points_cost=10)
    redemption = api_b.post("/api/v1/members/m-2/redemptions", {"reward": perk.pk}).json()
    enroll_confirmed(api, "c-same", email="m-2@example.com")
    assert_problem(api.get(f"/api/v1/redemptions/{redemption['id']}"), 404, "redemption_not_found")


def test_third_partner_sees_nothing(program, b_world):
    stranger = client_for(PartnerFactory(programs=[program]))
    assert stranger.get("/api/v1/members").json()["results"] == []
    assert stranger.get("/api/v1/members/m-1").status_code == 404
