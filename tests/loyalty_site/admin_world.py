"""A small admin data set written through the services: one program with members, a
purchase with a refund, a staff correction, a redeemed reward, referrals in every state
staff look at (two held for review, one rewarded), a failed purchase, a deletion request
and a webhook delivery that gave up."""

import uuid
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from loyalty_site.portal.services import account_deletion_request
from programs.models import Purchase, WebhookDelivery, WebhookDeliveryState, WebhookEvent
from programs.services.actions import points_adjust
from programs.services.ledger import Actor
from programs.services.memberships import membership_enroll
from programs.services.purchase_failures import purchase_fail
from programs.services.purchase_refunds import purchase_refund
from programs.services.purchases import LineData, purchase_record
from programs.services.referrals import referral_register, referral_release
from programs.services.rewards import reward_redeem
from programs.services.webhooks import webhook_subscription_create
from tests.factories import (
    CustomerFactory,
    PartnerFactory,
    ProgramFactory,
    RewardFactory,
    StaffFactory,
    standard_tiers,
)


class World:
    """Handles to the rows the tests look for."""


def _buy(world, membership, amount, order_id, *, award=True, **signals):
    purchase, _ = purchase_record(
        partner=world.partner,
        membership=membership,
        order_id=order_id,
        amount=Decimal(amount),
        currency="EUR",
        occurred_at=timezone.now() - timedelta(minutes=5),
        lines=[LineData(sku="A1", category="drinks", quantity=1, unit_price=Decimal(amount))],
        award_now=award,
        **signals,
    )
    return purchase


def admin_world() -> World:
    world = World()
    world.staff = StaffFactory(username="sabine")
    world.program = ProgramFactory(name="Kaffeeclub")
    world.tiers = standard_tiers(world.program)
    ProgramFactory(name="Teeclub")  # a second program: lists offer a program filter
    world.partner = PartnerFactory(name="Rösterei Nord", programs=[world.program])
    subscription = webhook_subscription_create(
        partner=world.partner, url="https://example.com/hook", events=["points.awarded"]
    )
    system = Actor.system()

    world.anna, _ = membership_enroll(
        customer=CustomerFactory(first_name="Anna"), program=world.program
    )
    purchase = _buy(world, world.anna, "30.00", "order-1", device_id="dev-1", ip_address="1.2.3.4")
    purchase_refund(
        purchase=purchase,
        refund_id="R-1",
        amount=Decimal("5.00"),
        lines=[],
        actor=system,
    )
    points_adjust(
        membership=world.anna,
        points=100,
        reason="Kulanz",
        user=world.staff,
        idempotency_key="staff-adjust:world",
    )
    reward = RewardFactory(program=world.program, name="Cappuccino", points_cost=10, stock=5)
    reward_redeem(membership=world.anna, reward=reward, actor=system)

    # Two friends on Anna's device: held for review.
    world.in_review = []
    for name in ("Berta", "Clara"):
        friend, _ = membership_enroll(
            customer=CustomerFactory(first_name=name), program=world.program
        )
        world.in_review.append(
            referral_register(
                referral_code=world.anna.referral_code, referee=friend, device_id="dev-1"
            )
        )
    # A clear friend who buys: the referral is rewarded ("friend referred" in the ledger).
    dora, _ = membership_enroll(customer=CustomerFactory(first_name="Dora"), program=world.program)
    referral = referral_register(referral_code=world.anna.referral_code, referee=dora)
    _buy(world, dora, "25.00", "order-2")
    referral_release(referral.pk, now=timezone.now() + timedelta(days=400))

    world.failed = _buy(world, dora, "12.00", "order-3", award=False)
    purchase_fail(purchase_id=world.failed.pk, reason="membership not active")

    world.leaving = CustomerFactory(first_name="Emil")
    account_deletion_request(customer=world.leaving)

    # The outbox gave up on one delivery (the worker's last attempt, written as it would).
    event = WebhookEvent.objects.create(
        event_id=uuid.uuid4(), partner=world.partner, type="points.awarded", payload={}
    )
    world.failed_delivery = WebhookDelivery.objects.create(
        event=event,
        subscription=subscription,
        state=WebhookDeliveryState.FAILED,
        attempts=8,
        next_attempt_at=timezone.now(),
        response_status=500,
        last_error="HTTP 500",
    )
    assert Purchase.objects.filter(order_id="order-3", status="failed").exists()
    return world
