"""Vouchers at the till over the API: look a code up, use it with the customer's proof
(required; a wrong PIN counts), retry safely, expiry, the voucher.used webhook, and
isolation: a partner not in the program cannot see, use or cancel the voucher."""

from datetime import timedelta

import pytest
from django.utils import timezone

from programs.models import (
    CardProof,
    PartnerCustomer,
    Redemption,
    RedemptionStatus,
    WebhookEvent,
    WebhookEventType,
)
from programs.services.card_proofs import code_current, pin_set
from programs.services.webhooks import webhook_subscription_create
from tests.api.conftest import assert_problem, client_for
from tests.factories import PartnerFactory, ProgramFactory, RewardFactory

pytestmark = pytest.mark.django_db

PIN = {"proof": {"pin": "4711"}}


@pytest.fixture
def voucher(api, member, program):
    """A 30-day voucher of partner A's member c-1, who has set the PIN 4711."""
    reward = RewardFactory(program=program, name="Teetasse", points_cost=100, voucher_valid_days=30)
    pin_set(member, "4711")
    response = api.post("/api/v1/members/c-1/redemptions", {"reward": reward.pk}, format="json")
    assert response.status_code == 201, response.json()
    return Redemption.objects.get(pk=response.json()["id"])


@pytest.fixture
def api_other(db):
    """A partner of another program."""
    return client_for(PartnerFactory(slug="elsewhere", programs=[ProgramFactory(slug="andere")]))


def use(client, code, body=PIN, **headers):
    return client.post(f"/api/v1/vouchers/{code}/use", body, format="json", **headers)


def test_look_up_shows_reward_status_dates_and_your_member(api, voucher):
    body = api.get(f"/api/v1/vouchers/{voucher.voucher_code}").json()
    assert body["code"] == voucher.voucher_code
    assert body["program"] == "treue"
    assert body["reward"] == {"id": voucher.reward_id, "name": "Teetasse"}
    assert (body["points"], body["status"], body["member"]) == (100, "issued", "c-1")
    assert body["expires_at"] == timezone.localtime(voucher.expires_at).isoformat()
    assert body["used_at"] is None
    assert body["used_by_you"] is False
    assert api.get(f"/api/v1/vouchers/{voucher.voucher_code.lower()}").status_code == 200


def test_use_with_the_pin_then_a_second_use_says_when(api, voucher, partner):
    response = use(api, voucher.voucher_code)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["used_by_you"]) == ("used", True)
    voucher.refresh_from_db()
    assert (voucher.status, voucher.used_by_partner) == (RedemptionStatus.USED, partner)

    again = assert_problem(use(api, voucher.voucher_code), 409, "voucher_used")
    assert again["used_at"] == timezone.localtime(voucher.used_at).isoformat()
    assert again["used_by_you"] is True


def test_use_with_the_rotating_code_which_works_once(api, voucher, member, program):
    code = code_current(member)[0]
    assert use(api, voucher.voucher_code, {"proof": {"code": code}}).status_code == 200
    second = RewardFactory(program=program, points_cost=10)
    other = api.post("/api/v1/members/c-1/redemptions", {"reward": second.pk}).json()
    assert_problem(use(api, other["voucher_code"], {"proof": {"code": code}}), 403, "proof_invalid")


def test_proof_is_required(api, voucher):
    assert_problem(use(api, voucher.voucher_code, {}), 403, "proof_required")
    assert_problem(use(api, voucher.voucher_code, {"proof": {}}), 403, "proof_required")
    voucher.refresh_from_db()
    assert voucher.status == RedemptionStatus.ISSUED


def test_a_wrong_pin_is_refused_and_counts(api, voucher, member):
    assert_problem(use(api, voucher.voucher_code, {"proof": {"pin": "9512"}}), 403, "proof_invalid")
    voucher.refresh_from_db()
    assert voucher.status == RedemptionStatus.ISSUED
    assert CardProof.objects.get(membership=member).pin_failures == 1


def test_idempotent_retry_answers_the_first_use(api, partner, voucher):
    webhook_subscription_create(
        partner=partner, url="https://hooks.example.com/x", events=["voucher.used"]
    )
    key = {"HTTP_IDEMPOTENCY_KEY": "till-7-voucher-1"}
    first = use(api, voucher.voucher_code, **key)
    retry = use(api, voucher.voucher_code, **key)
    assert first.status_code == retry.status_code == 200
    assert retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert WebhookEvent.objects.filter(type=WebhookEventType.VOUCHER_USED).count() == 1


def test_expired_voucher_reads_expired_and_cannot_be_used_or_cancelled(api, voucher, member):
    Redemption.objects.filter(pk=voucher.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert api.get(f"/api/v1/vouchers/{voucher.voucher_code}").json()["status"] == "expired"
    detail = api.get(f"/api/v1/redemptions/{voucher.pk}").json()
    assert detail["status"] == "expired"
    assert detail["expires_at"]
    problem = assert_problem(use(api, voucher.voucher_code), 409, "voucher_expired")
    assert problem["expires_at"]
    member.refresh_from_db()
    balance = member.balance
    assert_problem(
        api.post(f"/api/v1/redemptions/{voucher.pk}/cancel"), 409, "redemption_not_cancellable"
    )
    member.refresh_from_db()
    assert member.balance == balance


def test_cancelled_voucher_cannot_be_used(api, voucher):
    assert api.post(f"/api/v1/redemptions/{voucher.pk}/cancel").status_code == 200
    assert_problem(use(api, voucher.voucher_code), 409, "voucher_cancelled")


def test_use_needs_the_write_scope(partner, voucher):
    reader = client_for(partner, scopes=("read",))
    assert reader.get(f"/api/v1/vouchers/{voucher.voucher_code}").status_code == 200
    assert_problem(use(reader, voucher.voucher_code), 403, "insufficient_scope")


def test_a_partner_not_in_the_program_cannot_see_use_or_cancel(api_other, voucher):
    code = voucher.voucher_code
    unknown = assert_problem(
        api_other.get("/api/v1/vouchers/ZZZZ-ZZZZ-ZZZZ"), 404, "voucher_not_found"
    )
    hidden = assert_problem(api_other.get(f"/api/v1/vouchers/{code}"), 404, "voucher_not_found")
    assert hidden["detail"] == unknown["detail"]  # the same answer as for no voucher
    assert_problem(use(api_other, code), 404, "voucher_not_found")
    assert_problem(
        api_other.post(f"/api/v1/redemptions/{voucher.pk}/cancel"), 404, "redemption_not_found"
    )
    assert_problem(api_other.get(f"/api/v1/redemptions/{voucher.pk}"), 404, "redemption_not_found")
    voucher.refresh_from_db()
    assert voucher.status == RedemptionStatus.ISSUED


def test_another_partner_of_the_program_uses_it_with_proof_and_webhooks_follow(
    api, api_b, partner, partner_b, voucher, member
):
    """A coalition voucher is good at every merchant of its program. Partners that linked
    the member hear of the use; only the one that used it reads ``used_by_you``."""
    PartnerCustomer.objects.create(partner=partner_b, customer=member.customer, external_id="b-1")
    for p in (partner, partner_b):
        webhook_subscription_create(
            partner=p, url="https://hooks.example.com/x", events=["voucher.used"]
        )
    assert api_b.get(f"/api/v1/vouchers/{voucher.voucher_code}").json()["member"] == "b-1"
    assert_problem(use(api_b, voucher.voucher_code, {}), 403, "proof_required")
    assert use(api_b, voucher.voucher_code).json()["used_by_you"] is True
    assert api.get(f"/api/v1/vouchers/{voucher.voucher_code}").json()["used_by_you"] is False
    events = {
        e.partner_id: e.payload["data"]
        for e in WebhookEvent.objects.filter(type=WebhookEventType.VOUCHER_USED)
    }
    assert set(events) == {partner.pk, partner_b.pk}
    assert (events[partner.pk]["member"], events[partner.pk]["used_by_you"]) == ("c-1", False)
    assert (events[partner_b.pk]["member"], events[partner_b.pk]["used_by_you"]) == ("b-1", True)
    assert events[partner.pk]["voucher_code"] == voucher.voucher_code
    assert "partner_id" not in events[partner.pk]


def test_a_partner_that_did_not_link_the_member_gets_no_webhook(api_b, partner_b, voucher):
    webhook_subscription_create(
        partner=partner_b, url="https://hooks.example.com/x", events=["voucher.used"]
    )
    body = api_b.get(f"/api/v1/vouchers/{voucher.voucher_code}").json()
    assert body["member"] is None
    assert use(api_b, voucher.voucher_code).status_code == 200
    assert not WebhookEvent.objects.filter(partner=partner_b).exists()
