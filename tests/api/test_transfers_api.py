"""Transfers through the partner API: a member gives points to another member or to a
shared account; idempotent on the required Idempotency-Key; limits and review speak as
problems; lists scoped to the partner's members."""

import pytest
from django.db import transaction

from programs.models import EntrySource, IdempotencyRecord, Membership, Transfer
from programs.services.ledger import points_earn
from programs.services.locking import lock_membership
from programs.services.postings import Actor
from programs.services.transfers import transfer_create
from tests.api.conftest import assert_problem, buy, enroll
from tests.factories import enrolled

URL = "/api/v1/transfers"


def own(external_id: str) -> Membership:
    return Membership.objects.get(customer__partner_links__external_id=external_id)


def give(api, key: str, **body):
    return api.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def givers(api, program):
    """c-1 with 300 points and c-2 with none, in a program that allows giving at once."""
    program.transfers_enabled = True
    program.transfer_min_age_days = 0
    program.save()
    enroll(api, "c-1")
    enroll(api, "c-2")
    buy(api, "c-1", "300.00")
    return program


def test_a_member_gives_points_to_another(api, givers):
    response = give(api, "t-1", from_member="c-1", to_member="c-2", points=120, message="Danke")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["from_member"], body["to_member"], body["points"], body["status"]) == (
        "c-1",
        "c-2",
        120,
        "done",
    )
    assert (body["to_account"], body["message"]) == (None, "Danke")
    assert (own("c-1").balance, own("c-2").balance) == (180, 120)


def test_the_same_key_gives_once(api, givers):
    first = give(api, "t-1", from_member="c-1", to_member="c-2", points=100)
    again = give(api, "t-1", from_member="c-1", to_member="c-2", points=100)
    other = give(api, "t-1", from_member="c-1", to_member="c-2", points=50)

    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert_problem(other, 422, "idempotency_key_reused")
    assert own("c-2").balance == 100
    assert Transfer.objects.count() == 1


def test_the_same_key_after_the_stored_response_is_gone_still_gives_once(api, givers):
    first = give(api, "t-1", from_member="c-1", to_member="c-2", points=100)
    IdempotencyRecord.objects.all().delete()  # as after 24 hours
    again = give(api, "t-1", from_member="c-1", to_member="c-2", points=100)
    IdempotencyRecord.objects.all().delete()
    other = give(api, "t-1", from_member="c-1", to_member="c-2", points=50)

    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert_problem(other, 409, "idempotency_conflict")
    assert own("c-2").balance == 100


def test_a_transfer_needs_an_idempotency_key(api, givers):
    response = api.post(URL, {"from_member": "c-1", "to_member": "c-2", "points": 10})

    assert_problem(response, 400, "idempotency_key_required")
    assert own("c-2").balance == 0


def test_giving_to_an_account_the_partner_created(api, program):
    enroll(api, "c-1")
    buy(api, "c-1", "300.00")  # before joining: the points stay the member's own
    account = api.post(
        "/api/v1/accounts",
        {"kind": "household", "name": "Familie", "program": "treue", "manager": "c-1"},
        format="json",
    ).json()

    # into the member's own account: allowed although the program allows no transfers
    response = give(api, "t-1", from_member="c-1", to_account=account["id"], points=200)

    assert response.status_code == 201, response.json()
    assert (response.json()["to_account"], response.json()["to_member"]) == (account["id"], None)
    assert api.get(f"/api/v1/accounts/{account['id']}").json()["balance"]["available"] == 200
    assert own("c-1").balance == 100


def test_refusals_speak(api, givers, program):
    program.transfer_daily_limit = 150
    program.save()

    assert_problem(
        give(api, "a", from_member="c-1", to_member="c-2", points=151),
        409,
        "transfer_limit_reached",
    )
    assert_problem(
        give(api, "b", from_member="c-2", to_member="c-1", points=10), 409, "insufficient_points"
    )
    assert_problem(
        give(api, "c", from_member="c-1", to_member="c-1", points=10), 409, "transfer_refused"
    )
    body = assert_problem(give(api, "d", from_member="c-1", points=10), 400, "validation_error")
    assert body["errors"][0]["code"] == "recipient_required"
    program.transfers_enabled = False
    program.save()
    assert_problem(
        give(api, "e", from_member="c-1", to_member="c-2", points=10), 409, "transfer_refused"
    )


def test_a_large_transfer_waits_for_review_and_moves_nothing(api, givers, program):
    program.transfer_review_above = 100
    program.save()

    response = give(api, "t-1", from_member="c-1", to_member="c-2", points=101)

    assert response.status_code == 201
    assert response.json()["status"] == "review"
    assert (own("c-1").balance, own("c-2").balance) == (300, 0)


def test_another_partners_members_and_accounts_are_unknown(api, api_b, givers):
    enroll(api_b, "m-1")
    b_account = api_b.post(
        "/api/v1/accounts",
        {"kind": "business", "name": "B GmbH", "program": "treue", "manager": "m-1"},
        format="json",
    ).json()

    to_member = assert_problem(
        give(api, "a", from_member="c-1", to_member="m-1", points=10), 400, "validation_error"
    )
    to_account = assert_problem(
        give(api, "b", from_member="c-1", to_account=b_account["id"], points=10),
        400,
        "validation_error",
    )
    from_member = assert_problem(
        give(api_b, "c", from_member="c-1", to_member="m-1", points=10), 400, "validation_error"
    )

    assert to_member["errors"][0]["code"] == "member_not_found"
    assert to_account["errors"][0]["code"] == "account_not_found"
    assert from_member["errors"][0]["code"] == "member_not_found"
    assert own("c-1").balance == 300
    assert_problem(api_b.get(f"{URL}?member=c-1"), 404, "member_not_found")


def test_list_shows_given_and_received_with_the_partners_ids_only(api, api_b, givers):
    give(api, "t-1", from_member="c-1", to_member="c-2", points=10)
    give(api, "t-2", from_member="c-2", to_member="c-1", points=5)
    stranger = enrolled(givers)  # joined in the portal, not partner A's member
    with transaction.atomic():
        points_earn(
            lock_membership(stranger.pk),
            points=50,
            source=EntrySource.SYSTEM,
            idempotency_key="test:stranger",
            actor=Actor.system(),
        )
    transfer_create(
        sender=stranger, recipient=own("c-2"), points=20, key="portal:1", actor=Actor.system()
    )

    listed = api.get(f"{URL}?member=c-1").json()["results"]

    assert [(t["from_member"], t["to_member"], t["points"]) for t in listed] == [
        ("c-2", "c-1", 5),
        ("c-1", "c-2", 10),
    ]
    received = api.get(f"{URL}?member=c-2").json()["results"]
    assert [(t["from_member"], t["to_member"], t["points"]) for t in received] == [
        (None, "c-2", 20),
        ("c-2", "c-1", 5),
        ("c-1", "c-2", 10),
    ]
    assert_problem(api.get(URL), 400, "validation_error")
    assert_problem(api.get(f"{URL}?member=nobody"), 404, "member_not_found")
