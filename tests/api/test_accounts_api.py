"""Shared accounts through the partner API: create, members, pooled purchases, redeeming
from the pool by role, invitations, closing; every lookup scoped to the calling partner."""

import pytest

from programs.models import Account, AccountInvitation, Membership, WebhookEvent
from programs.services.accounts import account_member_add
from programs.services.purchases import purchases_award
from programs.services.webhooks import webhook_subscription_create
from tests.api.conftest import assert_problem, buy, client_for, enroll
from tests.factories import enrolled

URL = "/api/v1/accounts"


def own(external_id: str) -> Membership:
    return Membership.objects.get(customer__partner_links__external_id=external_id)


def create(api, **fields) -> dict:
    body = {"kind": "business", "name": "Müller GmbH", "program": "treue", **fields}
    response = api.post(URL, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.fixture
def business(api, program):
    """Partner A's business account K-1: owner c-1, buyers c-2 and c-3, viewer c-4."""
    for external_id in ("c-1", "c-2", "c-3", "c-4"):
        enroll(api, external_id)
    account = create(api, external_id="K-1", manager="c-1")
    for external_id, role in (("c-2", "buyer"), ("c-3", "buyer"), ("c-4", "viewer")):
        response = api.post(
            f"{URL}/K-1/members", {"member": external_id, "role": role}, format="json"
        )
        assert response.status_code == 201, response.json()
    return account


def test_create_shows_the_account_with_its_card_and_manager(api, program):
    enroll(api, "c-1")

    account = create(api, external_id="K-1", manager="c-1", vat_id="DE123456789", city="Berlin")

    assert account["kind"] == "business"
    assert account["status"] == "active"
    assert account["program"] == "treue"
    assert account["pools"] is True
    assert len(account["card_number"]) == 16
    assert account["balance"] == {"available": 0, "pending": 0, "held": 0, "debt": 0}
    assert account["vat_id"] == "DE123456789"
    assert [(m["member"], m["role"]) for m in account["members"]] == [("c-1", "owner")]
    by_id = api.get(f"{URL}/{account['id']}").json()
    by_external_id = api.get(f"{URL}/K-1").json()
    assert by_id == by_external_id == account


def test_create_refusals(api, partner_b, program):
    enroll(api, "c-1")
    create(api, external_id="K-1")

    assert_problem(
        api.post(URL, {"kind": "business", "name": "X", "program": "treue", "external_id": "K-1"}),
        409,
        "account_membership_conflict",
    )
    assert_problem(
        api.post(URL, {"kind": "business", "name": "X", "program": "nope"}),
        400,
        "validation_error",
    )
    body = assert_problem(
        api.post(URL, {"kind": "business", "name": "X", "program": "treue", "manager": "c-9"}),
        400,
        "validation_error",
    )
    assert body["errors"][0]["code"] == "member_not_found"
    body = assert_problem(
        api.post(URL, {"kind": "club", "name": "X", "program": "treue"}), 400, "validation_error"
    )
    assert body["errors"][0]["field"] == "kind"


def test_another_partner_neither_lists_nor_reads_nor_changes_the_account(api, api_b, business):
    enroll(api_b, "m-1")
    create(api_b, name="B's own", external_id="K-1")

    listed = api_b.get(URL).json()["results"]
    assert [a["name"] for a in listed] == ["B's own"]
    assert api_b.get(URL).json()["results"][0]["id"] != business["id"]
    assert_problem(api_b.get(f"{URL}/{business['id']}"), 404, "account_not_found")
    assert_problem(
        api_b.post(f"{URL}/{business['id']}/members", {"member": "m-1", "role": "buyer"}),
        404,
        "account_not_found",
    )
    assert_problem(api_b.post(f"{URL}/{business['id']}/close"), 404, "account_not_found")
    # partner B's own K-1 is B's, not A's
    assert api_b.get(f"{URL}/K-1").json()["name"] == "B's own"
    assert api.get(f"{URL}/K-1").json()["id"] == business["id"]


def test_members_a_partner_has_not_linked_show_without_external_id(api, business, program):
    stranger = enrolled(program)  # joined in the portal, never linked by partner A
    account_member_add(
        account=Account.objects.get(pk=business["id"]), membership=stranger, role="buyer"
    )

    members = api.get(f"{URL}/K-1").json()["members"]

    assert [(m["member"], m["role"]) for m in members] == [
        ("c-1", "owner"),
        ("c-2", "buyer"),
        ("c-3", "buyer"),
        ("c-4", "viewer"),
        (None, "buyer"),
    ]
    assert stranger.card_number not in str(members)


def test_purchases_of_two_buyers_earn_into_the_pooled_balance(api, business):
    first = buy(api, "c-2", "120.00")
    second = buy(api, "c-3", "80.00")

    assert (first["account"], first["placed_by"], first["member"]) == (
        business["id"],
        "c-2",
        "c-2",
    )
    assert second["account"] == business["id"]
    account = api.get(f"{URL}/K-1").json()
    assert account["balance"]["available"] == 200
    assert own("c-2").balance == own("c-3").balance == 0
    detail = api.get(f"/api/v1/purchases/{first['id']}").json()
    assert (detail["account"], detail["placed_by"], detail["member"]) == (
        business["id"],
        "c-2",
        "c-2",
    )


def test_a_members_own_purchase_shows_no_account(api, member):
    purchase = buy(api, "c-1", "10.00", order_id="own-1")

    assert purchase["account"] is None
    assert purchase["placed_by"] is None
    assert purchase["po_reference"] == ""


def test_an_account_that_requires_a_purchase_order_refuses_a_purchase_without(api, program):
    enroll(api, "c-1")
    create(api, external_id="K-2", manager="c-1", requires_po_reference=True)

    refused = api.post("/api/v1/purchases", {"member": "c-1", "order_id": "o1", "amount": "5"})
    accepted = buy(api, "c-1", "5.00", order_id="o2", po_reference="PO-77")

    assert_problem(refused, 422, "po_reference_required")
    assert accepted["po_reference"] == "PO-77"
    batch = api.post(
        "/api/v1/purchases/batch",
        {
            "purchases": [
                {"member": "c-1", "order_id": "b1", "amount": "5.00"},
                {"member": "c-1", "order_id": "b2", "amount": "5.00", "po_reference": "PO-78"},
            ]
        },
        format="json",
    ).json()
    assert batch["results"][0]["problem"]["code"] == "po_reference_required"
    created = batch["results"][1]["purchase"]
    assert (created["account"], created["placed_by"]) == (
        Account.objects.get(external_id="K-2").pk,
        "c-1",
    )


def test_buyer_redeems_from_the_pool_and_a_viewer_is_refused(api, business, reward):
    buy(api, "c-2", "300.00")

    redeemed = api.post(
        "/api/v1/members/c-3/redemptions",
        {"reward": reward.pk, "from_account": True},
        format="json",
    )
    refused = api.post(
        "/api/v1/members/c-4/redemptions",
        {"reward": reward.pk, "from_account": True},
        format="json",
    )

    assert redeemed.status_code == 201, redeemed.json()
    body = redeemed.json()
    assert (body["member"], body["account"], body["points"]) == ("c-3", business["id"], 100)
    assert api.get(f"{URL}/K-1").json()["balance"]["available"] == 200
    assert api.get(f"/api/v1/redemptions/{body['id']}").json()["member"] == "c-3"
    problem = assert_problem(refused, 403, "account_role_refused")
    assert "viewer" in problem["detail"]
    assert api.get(f"{URL}/K-1").json()["balance"]["available"] == 200


def test_a_buyers_monthly_limit_holds(api, business, reward):
    buy(api, "c-2", "300.00")
    api.patch(f"{URL}/K-1/members/c-3", {"monthly_limit": 150}, format="json")
    body = {"reward": reward.pk, "from_account": True}

    first = api.post("/api/v1/members/c-3/redemptions", body, format="json")
    second = api.post("/api/v1/members/c-3/redemptions", body, format="json")

    assert first.status_code == 201
    assert_problem(second, 409, "account_redemption_limit")


def test_redeeming_from_an_account_without_one_is_refused(api, member, reward):
    response = api.post(
        "/api/v1/members/c-1/redemptions", {"reward": reward.pk, "from_account": True}
    )

    assert_problem(response, 403, "account_role_refused")
    assert member.balance == own("c-1").balance


def test_add_member_refusals(api, business, program):
    enroll(api, "c-9")
    household = create(api, kind="household", name="Familie", external_id="H-1")

    assert_problem(
        api.post(f"{URL}/K-1/members", {"member": "c-2", "role": "buyer"}),
        409,
        "account_membership_conflict",
    )
    assert_problem(
        api.post(f"{URL}/{household['id']}/members", {"member": "c-9", "role": "buyer"}),
        403,
        "account_role_refused",
    )
    body = assert_problem(
        api.post(f"{URL}/K-1/members", {"member": "nobody", "role": "buyer"}),
        400,
        "validation_error",
    )
    assert body["errors"][0]["code"] == "member_not_found"
    assert_problem(api.post("/api/v1/accounts/999999/members", {}), 404, "account_not_found")


def test_change_role_and_leave(api, business):
    changed = api.patch(f"{URL}/K-1/members/c-4", {"role": "buyer", "monthly_limit": 500})
    left = api.delete(f"{URL}/K-1/members/c-2")
    after = buy(api, "c-2", "50.00", order_id="after-leaving")

    assert changed.status_code == 200
    assert (changed.json()["role"], changed.json()["monthly_limit"]) == ("buyer", 500)
    assert left.status_code == 204
    assert after["account"] is None
    assert own("c-2").balance == 50
    members = [m["member"] for m in api.get(f"{URL}/K-1").json()["members"]]
    assert "c-2" not in members
    assert_problem(api.delete(f"{URL}/K-1/members/c-2"), 404, "account_member_not_found")
    # the owner cannot leave while others remain, nor stop managing
    assert_problem(api.delete(f"{URL}/K-1/members/c-1"), 403, "account_role_refused")
    assert_problem(
        api.patch(f"{URL}/K-1/members/c-1", {"role": "buyer"}), 403, "account_role_refused"
    )
    assert_problem(api.patch(f"{URL}/K-1/members/c-1", {}), 400, "validation_error")


def test_invitation_is_created_without_its_token(api, business):
    response = api.post(f"{URL}/K-1/invitations", {"email": "jonas@example.com", "role": "buyer"})
    again = api.post(f"{URL}/K-1/invitations", {"email": "jonas@example.com", "role": "buyer"})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "account", "email", "role", "status", "expires_at", "created_at"}
    assert (body["email"], body["role"], body["status"]) == ("jonas@example.com", "buyer", "open")
    invitation = AccountInvitation.objects.get(pk=body["id"])
    assert invitation.token_hash not in response.content.decode()
    assert_problem(again, 409, "account_membership_conflict")
    assert_problem(
        api.post(f"{URL}/K-1/invitations", {"email": "x@example.com", "role": "head"}),
        403,
        "account_role_refused",
    )


def test_close_settles_the_balance_to_the_owner(api, business):
    buy(api, "c-2", "70.00")

    closed = api.post(f"{URL}/K-1/close", {"note": "company sold"}, format="json")
    again = api.post(f"{URL}/K-1/close")

    assert closed.status_code == 200, closed.json()
    body = closed.json()
    assert body["status"] == "closed"
    assert body["closed_at"] is not None
    assert body["members"] == []
    assert body["balance"]["available"] == 0
    assert own("c-1").balance == 70
    assert again.status_code == 200
    # purchases of a former member earn on their own again
    assert buy(api, "c-3", "10.00", order_id="after-close")["account"] is None
    assert_problem(
        api.post(f"{URL}/K-1/members", {"member": "c-2", "role": "buyer"}), 409, "account_closed"
    )


def test_close_is_refused_while_points_are_pending(api, business, program):
    program.pending_days = 14
    program.save(update_fields=["pending_days"])
    buy(api, "c-2", "70.00")

    assert_problem(api.post(f"{URL}/K-1/close"), 409, "account_not_settled")
    assert api.get(f"{URL}/K-1").json()["balance"]["pending"] == 70


def test_list_is_paginated_newest_first(api, program):
    for n in range(3):
        create(api, name=f"Firma {n}", external_id=f"K-{n}")

    page = api.get(f"{URL}?page_size=2").json()

    assert [a["name"] for a in page["results"]] == ["Firma 2", "Firma 1"]
    rest = api.get(page["next"]).json()
    assert [a["name"] for a in rest["results"]] == ["Firma 0"]


def test_reading_needs_read_and_writing_needs_write(partner, business):
    reader = client_for(partner, scopes=("read",))

    assert reader.get(f"{URL}/K-1").status_code == 200
    assert_problem(
        reader.post(f"{URL}/K-1/members", {"member": "c-1", "role": "buyer"}),
        403,
        "insufficient_scope",
    )


def test_pooled_purchase_award_is_idempotent_by_order_id(api, business):
    body = {"member": "c-2", "order_id": "same", "amount": "10.00"}
    first = api.post("/api/v1/purchases", body, format="json")
    again = api.post("/api/v1/purchases", body, format="json")

    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["placed_by"] == "c-2"
    purchases_award([first.json()["id"]])
    assert api.get(f"{URL}/K-1").json()["balance"]["available"] == 10


def test_webhooks_name_the_member_by_each_partners_own_id(api, api_b, partner, partner_b, receiver):
    for p in (partner, partner_b):
        webhook_subscription_create(
            partner=p, url=receiver.url, events=["account.created", "account.member_joined"]
        )
    enroll(api, "c-1", email="erika@example.com")
    enroll(api_b, "m-1")
    create(api, external_id="K-1", manager="c-1")
    # partner B's member joins A's account (e.g. by invitation): B hears of it by its own
    # id and never sees A's account id; A gets null for a member it does not know
    account_member_add(
        account=Account.objects.get(external_id="K-1"), membership=own("m-1"), role="buyer"
    )

    events = {
        (e.partner.slug, e.type, e.payload["data"].get("member"), e.payload["data"]["external_id"])
        for e in WebhookEvent.objects.select_related("partner")
    }
    assert events == {
        ("webshop", "account.created", None, "K-1"),
        ("webshop", "account.member_joined", "c-1", "K-1"),
        ("webshop", "account.member_joined", None, "K-1"),
        ("merchant", "account.member_joined", "m-1", None),
    }


def test_the_partner_knows_its_account_by_its_id_as_a_member(api, business, partner, receiver):
    webhook_subscription_create(partner=partner, url=receiver.url, events=["points.awarded"])
    buy(api, "c-2", "120.00")

    # the account's balance reads like a member's, by the partner's id for the account
    member = api.get("/api/v1/members/K-1").json()
    assert (member["external_id"], member["kind"]) == ("K-1", "shared")
    assert api.get("/api/v1/members/c-2").json()["kind"] == "person"
    assert [m["available"] for m in member["memberships"]] == [120]
    # points earned into the account reach the partner that created it
    awarded = WebhookEvent.objects.get(partner=partner, type="points.awarded")
    assert (awarded.payload["data"]["member"], awarded.payload["data"]["points"]) == ("K-1", 120)


def test_an_account_id_may_not_name_one_of_the_partners_members(api, program):
    enroll(api, "c-1")

    body = assert_problem(
        api.post(URL, {"kind": "business", "name": "X", "program": "treue", "external_id": "c-1"}),
        409,
        "account_membership_conflict",
    )
    assert "already names one of your accounts or members" in body["detail"]
    assert not Account.objects.exists()
