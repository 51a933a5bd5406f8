"""Linking a customer by e-mail address needs their consent (``link_claims``): the
partner's answer is that for a new person, it sees nothing of the customer until they
confirm, and confirming merges the partner's member into them, points and all."""

from decimal import Decimal

import pytest

from customers.models import Customer
from programs.models import (
    EntryKind,
    LedgerEntry,
    LinkClaim,
    Membership,
    MembershipStatus,
    PartnerCustomer,
    PointLot,
    Purchase,
    WebhookEvent,
)
from programs.notifications.models import Notification
from programs.services.holds import hold_place
from programs.services.link_claims import ClaimBusy, ClaimClosed, claim_confirm, claim_decline
from programs.services.postings import Actor
from programs.services.purchase_refunds import purchase_refund
from programs.services.webhooks import webhook_subscription_create
from tests.api.conftest import assert_problem, buy, enroll
from tests.factories import ProgramFactory
from tests.programs.bookkeeping import assert_books_balance

VOLATILE = {"referral_code", "card_number", "joined_at"}


def _shape(body: dict) -> dict:
    """The answer without what differs between any two new members (ids, dates)."""
    body = {k: v for k, v in body.items() if k not in {"external_id", "created_at", "updated_at"}}
    body["memberships"] = [
        {k: v for k, v in m.items() if k not in VOLATILE} for m in body["memberships"]
    ]
    return body


@pytest.fixture
def erika(api_b):
    """Partner B's member m-1 (erika@example.com) with 300 available points."""
    enroll(api_b, "m-1", email="erika@example.com", first_name="Erika", last_name="Muster")
    buy(api_b, "m-1", "300.00")
    return Customer.objects.get(email="erika@example.com")


def _claim(external_id="c-1") -> LinkClaim:
    return LinkClaim.objects.select_related("link").get(link__external_id=external_id)


def test_an_address_of_another_customer_answers_as_for_a_new_person(api, erika):
    taken = api.put(
        "/api/v1/members/c-1",
        {"email": "Erika@Example.com", "first_name": "E.", "programs": ["treue"]},
        format="json",
    )
    fresh = api.put(
        "/api/v1/members/c-2",
        {"email": "nobody@example.com", "first_name": "E.", "programs": ["treue"]},
        format="json",
    )
    assert taken.status_code == fresh.status_code == 201
    expected = _shape(fresh.json()) | {"email": "Erika@Example.com"}
    assert _shape(taken.json()) == expected
    [membership] = taken.json()["memberships"]
    assert (membership["available"], membership["pending"]) == (0, 0)  # not Erika's 300


def test_until_confirmed_the_partner_sees_nothing_of_the_customer(api, partner, erika):
    enroll(api, "c-1", email="erika@example.com", first_name="Mallory")
    erika.refresh_from_db()
    assert (erika.first_name, erika.last_name) == ("Erika", "Muster")  # not renamed
    assert PartnerCustomer.objects.get(external_id="c-1").customer != erika
    balance = api.get("/api/v1/members/c-1/balance").json()
    assert balance["programs"][0]["available"] == 0
    assert api.get("/api/v1/members/c-1/history").json()["results"] == []
    # Erika is told, in the portal and by e-mail.
    notification = Notification.objects.get(customer=erika, kind="link_request")
    assert notification.params["partner"] == partner.name
    # Another PUT with the same address asks no second time and still hides her.
    again = api.put("/api/v1/members/c-1", {"email": "erika@example.com"}, format="json")
    assert again.status_code == 200
    assert again.json()["email"] == "erika@example.com"
    assert again.json()["first_name"] == "Mallory"
    assert Notification.objects.filter(customer=erika, kind="link_request").count() == 1


def test_an_update_to_another_customers_address_asks_them_too(api, erika):
    enroll(api, "c-1", email="c-1@example.com")
    response = api.put("/api/v1/members/c-1", {"email": "erika@example.com"}, format="json")
    assert response.status_code == 200
    assert response.json()["email"] == "erika@example.com"
    assert _claim().customer == erika
    # A new address of its own withdraws the request.
    api.put("/api/v1/members/c-1", {"email": "c-one@example.com"}, format="json")
    assert not LinkClaim.objects.exists()
    assert PartnerCustomer.objects.get(external_id="c-1").customer.email == "c-one@example.com"


def test_confirming_merges_points_lots_and_purchases(api, erika):
    enroll(api, "c-1", email="erika@example.com")
    buy(api, "c-1", "120.00")
    shadow = Membership.objects.get(customer__partner_links__external_id="c-1")
    target = Membership.objects.get(customer=erika)
    lots = set(PointLot.objects.filter(membership=shadow).values_list("pk", "remaining"))
    assert sum(r for _, r in lots) == 120

    claim_confirm(claim_id=_claim().pk, customer=erika)

    target.refresh_from_db()
    shadow.refresh_from_db()
    assert (target.balance, shadow.balance) == (420, 0)
    assert shadow.status == MembershipStatus.CLOSED
    assert shadow.merged_into == target
    assert set(PointLot.objects.filter(membership=target).values_list("pk", "remaining")) >= lots
    moved = LedgerEntry.objects.filter(kind__in=[EntryKind.MERGE_OUT, EntryKind.MERGE_IN])
    assert sorted(moved.values_list("points", flat=True)) == [-120, 120]
    assert_books_balance(target)
    assert_books_balance(shadow)
    # The partner now sees Erika: her name, her points, its own link.
    body = api.get("/api/v1/members/c-1").json()
    assert (body["first_name"], body["memberships"][0]["available"]) == ("Erika", 420)
    assert api.get("/api/v1/members/c-1/balance").json()["programs"][0]["available"] == 420


def test_a_return_after_the_merge_takes_the_points_from_the_merged_balance(api, partner, erika):
    enroll(api, "c-1", email="erika@example.com")
    bought = buy(api, "c-1", "120.00", order_id="o-120")
    claim_confirm(claim_id=_claim().pk, customer=erika)
    purchase = Purchase.objects.get(pk=bought["id"])
    purchase_refund(
        purchase=purchase, refund_id="r-1", amount=purchase.amount, actor=Actor.for_partner(partner)
    )
    target = Membership.objects.get(customer=erika)
    assert target.balance == 300
    assert_books_balance(target)


def test_a_program_only_the_partner_member_is_in_moves_over(api, partner, erika):
    own = ProgramFactory(slug="eigen", pending_days=0)
    partner.programs.add(own)
    enroll(api, "c-1", email="erika@example.com", programs=("eigen",))
    membership = Membership.objects.get(program=own)
    claim_confirm(claim_id=_claim().pk, customer=erika)
    membership.refresh_from_db()
    assert membership.customer == erika
    assert membership.status == MembershipStatus.ACTIVE


def test_declining_keeps_the_partner_member_apart(api, erika):
    enroll(api, "c-1", email="erika@example.com", first_name="Mallory")
    claim_decline(claim_id=_claim().pk, customer=erika)
    assert PartnerCustomer.objects.get(external_id="c-1").customer != erika
    body = api.get("/api/v1/members/c-1").json()
    assert (body["first_name"], body["email"]) == ("Mallory", "")
    with pytest.raises(ClaimClosed):
        claim_confirm(claim_id=_claim().pk, customer=erika)


def test_only_the_addressed_customer_can_answer(api, erika):
    enroll(api, "c-1", email="erika@example.com")
    someone = Customer.objects.create(email="someone@example.com")
    with pytest.raises(ClaimClosed):
        claim_confirm(claim_id=_claim().pk, customer=someone)
    assert _claim().is_open


def test_the_partners_own_member_by_that_address_is_named(api):
    enroll(api, "c-1", email="one@example.com")
    body = assert_problem(
        api.put("/api/v1/members/c-9", {"email": "one@example.com"}, format="json"),
        409,
        "member_already_linked",
    )
    assert "'c-1'" in body["detail"]


def test_a_customer_with_a_portal_login_is_never_merged_by_an_address_change(
    api, erika, django_user_model
):
    enroll(api, "c-1", email="c-1@example.com")
    mine = PartnerCustomer.objects.get(external_id="c-1").customer
    mine.user = django_user_model.objects.create_user("c1", "c-1@example.com", "pw-123456789")
    mine.save()
    assert_problem(
        api.put("/api/v1/members/c-1", {"email": "erika@example.com"}, format="json"),
        409,
        "email_taken",
    )
    assert not LinkClaim.objects.exists()


def test_a_merge_waits_while_points_are_held(api, partner, erika):
    enroll(api, "c-1", email="erika@example.com")
    buy(api, "c-1", "120.00")
    shadow = Membership.objects.get(customer__partner_links__external_id="c-1")
    hold_place(membership=shadow, partner=partner, amount=Decimal("1.00"), idempotency_key="h-1")
    with pytest.raises(ClaimBusy):
        claim_confirm(claim_id=_claim().pk, customer=erika)
    assert _claim().is_open


def test_the_partner_hears_when_the_customer_confirms(api, partner, erika):
    webhook_subscription_create(
        partner=partner, url="https://93.184.215.14/hooks", events=["member.linked"]
    )
    enroll(api, "c-1", email="erika@example.com")
    assert not WebhookEvent.objects.filter(type="member.linked").exists()  # not before
    claim_confirm(claim_id=_claim().pk, customer=erika)
    event = WebhookEvent.objects.get(type="member.linked")
    assert event.partner == partner
    assert event.payload["data"] == {"external_id": "c-1"}


def test_erasure_drops_the_request_with_the_address(api, erika):
    from customers.privacy import customer_anonymize

    enroll(api, "c-1", email="erika@example.com")
    customer_anonymize(customer=erika, user=None)
    assert not LinkClaim.objects.exists()


def test_the_e_mail_leads_straight_to_the_answer_and_has_no_unsubscribe(api, erika):
    from programs.notifications.texts import notification_email_render

    enroll(api, "c-1", email="erika@example.com")
    notification = Notification.objects.get(customer=erika, kind="link_request")
    email = notification_email_render(notification)
    assert "/portal/links/" in email.text
    assert "möchte Ihr Kundenkonto verknüpfen" in email.subject
    assert "unsubscribe" not in email.text
