"""One voucher code at 20 tills at once: real PostgreSQL, real threads, real transactions
(the pattern of ``test_concurrency``). Exactly one use succeeds; the others are told the
voucher was used, and one ``voucher.used`` event is written."""

import pytest
from django.utils import timezone

from programs.errors import VoucherUsed
from programs.models import PartnerCustomer, RedemptionStatus, WebhookEvent, WebhookEventType
from programs.services.ledger import Actor
from programs.services.memberships import membership_enroll
from programs.services.rewards import reward_redeem
from programs.services.vouchers import voucher_use
from programs.services.webhooks import webhook_subscription_create
from tests.factories import CustomerFactory, PartnerFactory, RewardFactory
from tests.programs.test_concurrency import (
    errors_of,
    only_domain_errors,
    results_of,
    run_concurrently,
)

pytestmark = [pytest.mark.django_db(transaction=True)]

TILLS = 20


def test_twenty_tills_using_one_code_at_once_exactly_one_succeeds(program, partner, buy):
    member, _ = membership_enroll(customer=CustomerFactory(), program=program)
    buy(member, "100.00")
    PartnerCustomer.objects.create(partner=partner, customer=member.customer, external_id="c-1")
    webhook_subscription_create(
        partner=partner, url="https://hooks.example.com/loyalty", events=["voucher.used"]
    )
    reward = RewardFactory(program=program, points_cost=50, voucher_valid_days=7)
    voucher = reward_redeem(membership=member, reward=reward, actor=Actor.system())
    tills = [partner] + [PartnerFactory(programs=[program]) for _ in range(TILLS - 1)]

    def work(i):
        return voucher_use(partner=tills[i], code=voucher.voucher_code).used_by_partner_id

    outcomes = run_concurrently(TILLS, work)

    only_domain_errors(outcomes, VoucherUsed)
    winners = results_of(outcomes)
    assert len(winners) == 1
    assert len(errors_of(outcomes)) == TILLS - 1
    voucher.refresh_from_db()
    assert voucher.status == RedemptionStatus.USED
    assert voucher.used_by_partner_id == winners[0]
    used_at = {e.details["used_at"] for e in errors_of(outcomes)}
    assert used_at == {
        timezone.localtime(voucher.used_at).isoformat()
    }  # every loser is told the same moment
    events = WebhookEvent.objects.filter(type=WebhookEventType.VOUCHER_USED)
    assert events.count() == 1
    assert events.get().payload["data"]["used_by_you"] is (winners[0] == partner.pk)
