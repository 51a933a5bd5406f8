"""Members: upsert, read, list with filters, balance, history, referral."""

from datetime import timedelta
from urllib.parse import quote

import pytest
from django.utils import timezone

from customers.models import Customer
from programs.models import Membership, PartnerCustomer, PointLot, Referral, ReferralStatus
from tests.api.conftest import assert_problem, buy, enroll, enroll_confirmed
from tests.factories import CustomerFactory


def test_put_creates_then_updates(api):
    created = api.put(
        "/api/v1/members/c-1",
        {
            "email": "erika@example.com",
            "first_name": "Erika",
            "language": "en",
            "birth_date": "1990-04-01",
            "programs": ["treue"],
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert body["external_id"] == "c-1"
    assert body["language"] == "en"
    assert body["birth_date"] == "1990-04-01"
    [membership] = body["memberships"]
    assert membership["program"] == "treue"
    assert membership["tier"] == {"name": "Bronze", "rank": 0}
    assert (membership["available"], membership["pending"], membership["debt"]) == (0, 0, 0)
    assert len(membership["referral_code"]) == 8

    updated = api.put("/api/v1/members/c-1", {"last_name": "Muster"})
    assert updated.status_code == 200
    assert updated.json()["first_name"] == "Erika"  # left out: unchanged
    assert updated.json()["last_name"] == "Muster"
    assert Customer.objects.count() == 1
    assert Membership.objects.count() == 1


def test_put_again_is_harmless(api):
    enroll(api, "c-1")
    enroll(api, "c-1")
    assert PartnerCustomer.objects.count() == 1
    assert Membership.objects.count() == 1


def test_put_refuses_an_email_of_another_member_of_yours(api):
    enroll(api, "c-1", email="one@example.com")
    enroll(api, "c-2", email="two@example.com")
    body = assert_problem(
        api.put("/api/v1/members/c-3", {"email": "one@example.com"}), 409, "member_already_linked"
    )
    assert "'c-1'" in body["detail"]
    body = assert_problem(
        api.put("/api/v1/members/c-2", {"email": "ONE@example.com"}), 409, "member_already_linked"
    )
    assert body["errors"][0]["field"] == "email"
    assert "'c-1'" in body["detail"]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"email": "not-an-email"}, "email", "invalid"),
        ({"language": "fr"}, "language", "invalid_choice"),
        ({"programs": ["nope"]}, "programs.0", "unknown_program"),
        ({"programs": "treue"}, "programs", "not_a_list"),
        ({"birth_date": "01.04.1990"}, "birth_date", "invalid"),
        ({"signals": {"ip_address": "999.1.1.1"}}, "signals.ip_address", "invalid"),
        ({"signals": {"fingerprint": "x"}}, "signals.fingerprint", "unknown_field"),
        ({"first_name": "x" * 151}, "first_name", "max_length"),
    ],
)
def test_put_validation(api, body, field, code):
    problem = assert_problem(api.put("/api/v1/members/c-1", body), 400, "validation_error")
    assert (problem["errors"][0]["field"], problem["errors"][0]["code"]) == (field, code)
    assert not PartnerCustomer.objects.exists()


@pytest.mark.parametrize("external_id", ["a" * 101, "with space", "tab\tid"])
def test_put_refuses_bad_external_ids(api, external_id):
    response = api.put(f"/api/v1/members/{quote(external_id)}", {})
    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"][0]["field"] == "external_id"


def test_external_ids_may_hold_punctuation(api):
    enroll(api, "shop:42@eu.x+y", email="p@example.com")
    assert api.get("/api/v1/members/" + quote("shop:42@eu.x+y")).status_code == 200


def test_put_with_referral_code_registers_the_referral(api, member):
    code = member.referral_code
    body = enroll(
        api,
        "c-friend",
        referral_code=code.lower(),
        signals={"ip_address": "203.0.113.9", "device_id": "dev-1"},
    )
    referral = Referral.objects.get()
    assert referral.referrer == member
    assert referral.referee.customer.email == "c-friend@example.com"
    assert referral.status == ReferralStatus.SIGNED_UP
    assert referral.signup_device_id == "dev-1"
    # The same sign-up sent again changes nothing.
    again = api.put("/api/v1/members/c-friend", {"referral_code": code})
    assert again.status_code == 200
    assert Referral.objects.count() == 1
    assert body["memberships"][0]["program"] == "treue"


def test_put_with_invalid_referral_code_is_422_and_changes_nothing(api):
    problem = assert_problem(
        api.put(
            "/api/v1/members/c-1",
            {"email": "a@example.com", "programs": ["treue"], "referral_code": "NOPE1234"},
        ),
        422,
        "referral_not_allowed",
    )
    assert problem["errors"][0]["field"] == "referral_code"
    assert not PartnerCustomer.objects.exists()
    assert not Customer.objects.exists()


def test_get_member(api, member):
    body = api.get("/api/v1/members/c-1").json()
    assert body["first_name"] == "Erika"
    assert body["memberships"][0]["available"] == 300


def test_list_filters(api, partner, program, tiers_gold_member):
    enroll(api, "c-2")
    everyone = api.get("/api/v1/members").json()["results"]
    assert [m["external_id"] for m in everyone] == ["c-2", "c-gold"]
    gold = api.get("/api/v1/members?tier=gold").json()["results"]
    assert [m["external_id"] for m in gold] == ["c-gold"]
    assert api.get("/api/v1/members?tier=Platin").json()["results"] == []
    in_program = api.get("/api/v1/members?program=treue").json()["results"]
    assert len(in_program) == 2
    later = (timezone.now() + timedelta(minutes=5)).isoformat()
    assert api.get("/api/v1/members", {"updated_since": later}).json()["results"] == []
    earlier = (timezone.now() - timedelta(minutes=5)).isoformat()
    assert len(api.get("/api/v1/members", {"updated_since": earlier}).json()["results"]) == 2


def test_updated_since_sees_points_changes(api, member):
    since = timezone.now()
    assert api.get("/api/v1/members", {"updated_since": since.isoformat()}).json()["results"] == []
    buy(api, "c-1", "5.00")
    changed = api.get("/api/v1/members", {"updated_since": since.isoformat()}).json()["results"]
    assert [m["external_id"] for m in changed] == ["c-1"]


@pytest.fixture
def tiers_gold_member(api):
    enroll(api, "c-gold")
    buy(api, "c-gold", "1600.00")
    return Membership.objects.get(customer__partner_links__external_id="c-gold")


def test_balance(api, member, program):
    lot = PointLot.objects.get(membership=member)
    PointLot.objects.filter(pk=lot.pk).update(expires_at=timezone.now() + timedelta(days=10))
    body = api.get("/api/v1/members/c-1/balance").json()
    [balance] = body["programs"]
    assert balance["available"] == 300
    assert balance["pending"] == 0
    assert balance["debt"] == 0
    assert balance["currency"] == "EUR"
    assert balance["tier"] == {"name": "Bronze", "rank": 0}
    assert [e["points"] for e in balance["expiring"]] == [300]
    progress = balance["tier_progress"]
    assert progress["metric"] == "spend"
    assert progress["qualifying_value"] == "300.00"
    assert progress["next_tier"] == {"name": "Silber", "rank": 1, "threshold": "500.00"}
    assert progress["gap"] == "200.00"
    later = api.get("/api/v1/members/c-1/balance?expiring_within_days=5").json()
    assert later["programs"][0]["expiring"] == []
    assert api.get("/api/v1/members/c-1/balance?program=treue").status_code == 200
    assert_problem(
        api.get("/api/v1/members/c-1/balance?expiring_within_days=0"), 400, "validation_error"
    )


def test_balance_at_the_top_tier_has_no_next_tier(api, tiers_gold_member):
    buy(api, "c-gold", "4000.00", order_id="big")
    progress = api.get("/api/v1/members/c-gold/balance").json()["programs"][0]["tier_progress"]
    assert progress["next_tier"] is None
    assert progress["gap"] is None


def test_pending_points_show_as_pending(api, program):
    program.pending_days = 14
    program.save()
    enroll(api, "c-p")
    buy(api, "c-p", "40.00")
    balance = api.get("/api/v1/members/c-p/balance").json()["programs"][0]
    assert (balance["available"], balance["pending"]) == (0, 40)


def test_history_is_paginated_newest_first(api, member):
    for n in range(3):
        buy(api, "c-1", "1.00", order_id=f"small-{n}")
    first = api.get("/api/v1/members/c-1/history?page_size=2").json()
    assert [e["order_id"] for e in first["results"]] == ["small-2", "small-1"]
    assert first["results"][0]["kind"] == "earn"
    assert first["results"][0]["available_after"] == 303
    second = api.get(first["next"]).json()
    assert [e["order_id"] for e in second["results"]] == ["small-0", "order-c-1-300.00"]
    assert second["next"] is None


def test_history_is_ordered_by_the_business_date(api, member):
    now = timezone.now()
    buy(api, "c-1", "10.00", order_id="new", occurred_at=(now - timedelta(days=2)).isoformat())
    old_at = now - timedelta(days=40)
    buy(api, "c-1", "20.00", order_id="late", occurred_at=old_at.isoformat())  # reported last
    entries = api.get("/api/v1/members/c-1/history").json()["results"]
    # The member fixture's order (now), then 2 days ago, then 40 days ago.
    assert [e["order_id"] for e in entries] == ["order-c-1-300.00", "new", "late"]
    late = entries[2]
    assert late["effective_at"] == timezone.localtime(old_at).isoformat()
    assert late["created_at"] > entries[0]["created_at"]  # recorded after the others
    assert late["available_after"] == 330  # 300 + 10 + 20: balances run in recorded order


def test_history_pages_through_entries_of_one_moment(api, member):
    bought_at = timezone.now() - timedelta(days=5)
    body = buy(api, "c-1", "30.00", order_id="split", occurred_at=bought_at.isoformat())
    for n in (1, 2):  # two returns of 10.00: each effective at the purchase's moment
        refund = {"refund_id": f"R-{n}", "amount": "10.00"}
        response = api.post(f"/api/v1/purchases/{body['id']}/refunds", refund, format="json")
        assert response.status_code in (200, 201), response.json()
    first = api.get("/api/v1/members/c-1/history?page_size=2").json()
    second = api.get(first["next"]).json()
    # 4 entries: the fixture's earn (now), then at bought_at the returns R-2 and R-1 (-10
    # each, newest id first) and the earn of 30 they return
    assert [e["points"] for e in first["results"]] == [300, -10]
    assert [e["points"] for e in second["results"]] == [-10, 30]
    assert second["next"] is None
    bad_position = "cD1ub3RhZGF0ZQ=="  # base64 of "p=notadate"
    invalid = api.get(f"/api/v1/members/c-1/history?cursor={bad_position}")
    assert_problem(invalid, 400, "validation_error")


def test_history_hides_other_partners_order_ids(api, api_b, member):
    enroll_confirmed(api_b, "b-same", email="c-1@example.com")  # B links the same customer
    buy(api_b, "b-same", "20.00", order_id="B-SECRET-1")
    entries = api.get("/api/v1/members/c-1/history").json()["results"]
    theirs = entries[0]
    assert theirs["points"] == 20
    assert theirs["order_id"] is None
    assert theirs["purchase_id"] is None
    assert "B-SECRET" not in str(entries)
    mine = api_b.get("/api/v1/members/b-same/history").json()["results"][0]
    assert mine["order_id"] == "B-SECRET-1"


def test_referral(api, member):
    enroll(api, "c-friend", referral_code=member.referral_code)
    enroll(api, "c-other", programs=[])
    other = CustomerFactory()
    friend_of_other_partner = Membership.objects.create(
        customer=other, program=member.program, joined_at=timezone.now(), referral_code="ZZZZ2222"
    )
    Referral.objects.create(
        program=member.program,
        referrer=member,
        referee=friend_of_other_partner,
        status=ReferralStatus.REWARDED,
        risk="clear",
    )
    body = api.get("/api/v1/members/c-1/referral").json()
    [program] = body["programs"]
    assert program["code"] == member.referral_code
    assert program["link"].endswith(f"?ref={member.referral_code}")
    made = {r["referee_external_id"]: r["status"] for r in program["referrals"]}
    assert made == {"c-friend": "signed_up", None: "rewarded"}
