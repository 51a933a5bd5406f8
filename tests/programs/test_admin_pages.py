"""Every admin changelist and change page renders with data; the ledger is read-only;
changelists stay a bounded number of queries however many rows they show."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from customers.models import Customer
from programs.models import (
    ActionRule,
    Campaign,
    EarnRule,
    LedgerEntry,
    Membership,
    Partner,
    Program,
    Purchase,
    Redemption,
    Referral,
    ReferralStatus,
    Reward,
    SubscriptionPeriod,
    Tier,
    TierChange,
    TierKind,
    TierSubscription,
)
from programs.services.actions import points_adjust
from programs.services.memberships import membership_enroll
from programs.services.purchase_refunds import RefundLine, purchase_refund
from programs.services.referrals import referral_register
from programs.services.rewards import reward_redeem
from programs.services.subscriptions import tier_subscription_buy
from tests.factories import CustomerFactory, RewardFactory, StaffFactory


@pytest.fixture
def staff_client(client, db):
    client.force_login(StaffFactory())
    return client


@pytest.fixture
def world(program, tiers, partner, membership, buy, system):
    """One of everything the admin shows, written through the services."""
    EarnRule.objects.create(program=program, name="Drinks", category="drinks", multiplier=2)
    Campaign.objects.create(
        program=program,
        name="Double weekend",
        starts_at=timezone.now() - timedelta(days=1),
        ends_at=timezone.now() + timedelta(days=1),
    )
    ActionRule.objects.create(program=program, code="review_written", name="Review", points=50)
    vip = Tier.objects.create(
        program=program,
        name="VIP",
        rank=10,
        kind=TierKind.SUBSCRIPTION,
        subscription_price=Decimal("9.90"),
        subscription_period=SubscriptionPeriod.MONTH,
    )
    purchase = buy(
        membership,
        "30.00",
        lines=[
            {"sku": "A1", "category": "drinks", "quantity": 2, "unit_price": Decimal("5.00")},
            {"sku": "B2", "category": "food", "quantity": 1, "unit_price": Decimal("20.00")},
        ],
        ip_address="203.0.113.5",
    )
    purchase_refund(purchase=purchase, refund_id="R-1", lines=[RefundLine(1, 1)], actor=system)
    points_adjust(
        membership=membership,
        points=100,
        reason="goodwill",
        user=StaffFactory(),
        idempotency_key="staff-adjust:test",
    )
    reward = RewardFactory(program=program, points_cost=50, stock=5, min_tier=tiers["Bronze"])
    reward_redeem(membership=membership, reward=reward, actor=system)
    friend, _ = membership_enroll(customer=CustomerFactory(), program=program)
    referral_register(referral_code=membership.referral_code, referee=friend, ip="203.0.113.5")
    tier_subscription_buy(membership=membership, tier=vip, partner=partner, order_id="SUB-1")
    return membership


PAGES = [
    ("customers", Customer),
    ("programs", Program),
    ("programs", Partner),
    ("programs", Reward),
    ("programs", Membership),
    ("programs", Purchase),
    ("programs", LedgerEntry),
    ("programs", Redemption),
    ("programs", Referral),
    ("programs", TierChange),
    ("programs", TierSubscription),
]


@pytest.mark.parametrize(("app", "model"), PAGES, ids=[m.__name__ for _, m in PAGES])
def test_changelist_and_change_page_render_with_data(staff_client, world, app, model):
    name = model._meta.model_name
    response = staff_client.get(reverse(f"admin:{app}_{name}_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1

    obj = model.objects.order_by("pk").first()
    response = staff_client.get(reverse(f"admin:{app}_{name}_change", args=[obj.pk]))
    assert response.status_code == 200
    assert response.context["original"] == obj


def test_admin_index_renders(staff_client, world):
    assert staff_client.get(reverse("admin:index")).status_code == 200


def test_operation_pages_render(staff_client, world):
    purchase = Purchase.objects.get(order_id="order-1")
    referral = Referral.objects.get()
    urls = [
        reverse("admin:programs_membership_add"),
        reverse("admin:programs_purchase_add"),
        reverse("admin:programs_membership_adjust_points", args=[world.pk]),
        reverse("admin:programs_membership_set_tier", args=[world.pk]),
        reverse("admin:programs_membership_sell_subscription", args=[world.pk]),
        reverse("admin:programs_purchase_refund", args=[purchase.pk]),
        reverse("admin:programs_referral_approve", args=[referral.pk]),
        reverse("admin:programs_referral_reject", args=[referral.pk]),
        reverse("admin:customers_customer_enroll", args=[world.customer_id]),
    ]
    for url in urls:
        response = staff_client.get(url)
        assert response.status_code == 200, url
        assert response.context["form"] is not None


def test_changelist_search_and_filters(staff_client, world):
    email = world.customer.email
    url = reverse("admin:programs_ledgerentry_changelist")
    response = staff_client.get(url, {"q": email, "kind__exact": "adjust"})
    assert [e.reason for e in response.context["cl"].result_list] == ["goodwill"]
    response = staff_client.get(url, {"q": "staff-adjust:test"})
    assert response.context["cl"].result_count == 1

    response = staff_client.get(reverse("admin:programs_membership_changelist"), {"q": email})
    assert list(response.context["cl"].result_list) == [world]


def test_membership_page_shows_balances_ledger_and_tier_history(staff_client, world):
    world.refresh_from_db()
    response = staff_client.get(reverse("admin:programs_membership_change", args=[world.pk]))
    content = response.content.decode()
    assert "goodwill" in content
    assert "VIP" in content
    assert str(world.available) in content
    tools = dict(response.context["object_tools"])
    assert set(tools) == {
        "Punkte korrigieren",
        "Stufe setzen",
        "Abo-Stufe verkaufen",
        "Status ändern",
        "PIN zurücksetzen",
        gettext("Ledger as CSV"),  # the member's ledger as a file (test_ledger_exports.py)
        gettext("Ledger as Excel"),
    }


def test_purchase_page_shows_lines_breakdown_refunds(staff_client, world):
    purchase = Purchase.objects.get(order_id="order-1")
    response = staff_client.get(reverse("admin:programs_purchase_change", args=[purchase.pk]))
    content = response.content.decode()
    assert "R-1" in content
    assert "Double weekend" in content  # the campaign's bonus in the breakdown
    assert "A1" in content
    assert "B2" in content


def test_ledger_entries_cannot_be_added_changed_or_deleted(staff_client, world):
    entry = LedgerEntry.objects.filter(membership=world).first()
    change_url = reverse("admin:programs_ledgerentry_change", args=[entry.pk])

    assert staff_client.get(reverse("admin:programs_ledgerentry_add")).status_code == 403
    response = staff_client.post(change_url, {"points": 999, "reason": "tampered"})
    assert response.status_code == 403
    delete_url = reverse("admin:programs_ledgerentry_delete", args=[entry.pk])
    assert staff_client.post(delete_url, {"post": "yes"}).status_code == 403

    page = staff_client.get(change_url)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert not page.context["has_delete_permission"]
    changelist = staff_client.get(reverse("admin:programs_ledgerentry_changelist"))
    assert not changelist.context["has_add_permission"]
    assert changelist.context["action_form"] is None  # no actions at all, not even delete
    entry.refresh_from_db()
    assert entry.reason != "tampered"


def test_referral_queue_opens_on_review(staff_client, world):
    url = reverse("admin:programs_referral_changelist")
    response = staff_client.get(url)
    assert [r.status for r in response.context["cl"].result_list] == [ReferralStatus.REVIEW]
    response = staff_client.get(url, {"status": "rewarded"})
    assert response.context["cl"].result_count == 0
    response = staff_client.get(url, {"status": "all"})
    assert response.context["cl"].result_count == 1


@pytest.fixture
def populate(program, tiers, partner, buy, system):
    """populate(n): n more members, each with a purchase, a redemption, a referral from the
    member before and a subscription: rows for every changelist."""
    reward = RewardFactory(program=program, points_cost=5, stock=1000)
    vip = Tier.objects.create(
        program=program,
        name="VIP",
        rank=10,
        kind=TierKind.SUBSCRIPTION,
        subscription_price=Decimal("9.90"),
        subscription_period=SubscriptionPeriod.MONTH,
    )

    def _populate(count):
        for _ in range(count):
            previous = Membership.objects.order_by("-pk").first()
            membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
            if previous is not None:
                referral_register(referral_code=previous.referral_code, referee=membership)
            buy(membership, "10.00")
            reward_redeem(membership=membership, reward=reward, actor=system)
            tier_subscription_buy(
                membership=membership, tier=vip, partner=partner, order_id=f"SUB-{membership.pk}"
            )

    return _populate


def _changelist_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count > 0
    return len(queries)


CHANGELISTS = [
    "customers_customer",
    "programs_membership",
    "programs_purchase",
    "programs_ledgerentry",
    "programs_redemption",
    "programs_referral",
    "programs_tierchange",
    "programs_tiersubscription",
]


def test_changelist_queries_do_not_grow_with_rows(
    staff_client, populate, django_assert_max_num_queries
):
    urls = [reverse(f"admin:{name}_changelist") for name in CHANGELISTS]
    urls = [url + "?status=all" if "referral" in url else url for url in urls]
    populate(3)
    few = [_changelist_queries(staff_client, url) for url in urls]
    populate(27)
    assert [_changelist_queries(staff_client, url) for url in urls] == few

    assert Membership.objects.count() == 30
    with django_assert_max_num_queries(8):
        response = staff_client.get(reverse("admin:programs_membership_changelist"))
    assert len(response.context["cl"].result_list) == 30
