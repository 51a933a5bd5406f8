"""A campaign's points budget under 20 concurrent awards on real PostgreSQL: never
exceeded, the last award gets what is left, and the campaign then stops."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from programs.models import Campaign, CampaignAward, CampaignEffect, Purchase, PurchaseStatus
from programs.services.memberships import membership_enroll
from programs.services.purchases import purchase_record, purchases_award
from programs.tasks import award_purchases_task
from tests.factories import CustomerFactory
from tests.programs.test_concurrency import assert_books_balance, no_errors, run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_budget_is_never_exceeded_by_20_concurrent_awards(program, partner, monkeypatch):
    monkeypatch.setattr(award_purchases_task, "delay", lambda ids: None)
    now = timezone.now()
    campaign = Campaign.objects.create(
        program=program,
        name="Budget",
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
        effect=CampaignEffect.FIXED,
        bonus_points=30,
        budget_points=100,
    )
    members, ids = [], []
    for n in range(20):
        membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
        purchase, _ = purchase_record(
            partner=partner,
            membership=membership,
            order_id=f"C{n}",
            amount=Decimal(10),
            currency="EUR",
            occurred_at=now - timedelta(minutes=5),
        )
        members.append(membership)
        ids.append(purchase.pk)

    outcomes = run_concurrently(20, lambda i: purchases_award([ids[i]]))

    no_errors(outcomes)
    assert Purchase.objects.filter(pk__in=ids, status=PurchaseStatus.AWARDED).count() == 20
    awards = sorted(
        CampaignAward.objects.filter(campaign=campaign).values_list("points", flat=True),
        reverse=True,
    )
    assert awards == [30, 30, 30, 10]  # three whole bonuses, then what was left
    campaign.refresh_from_db()
    assert campaign.points_awarded == 100
    for purchase in Purchase.objects.filter(pk__in=ids):  # base points always, bonus or not
        assert purchase.points_awarded == 10 + purchase.breakdown["campaign_points"].get(
            str(campaign.pk), 0
        )
    # spent: a later purchase gets no bonus at all
    purchase, _ = purchase_record(
        partner=partner,
        membership=members[0],
        order_id="after",
        amount=Decimal(10),
        currency="EUR",
        occurred_at=now - timedelta(minutes=1),
    )
    purchases_award([purchase.pk])
    purchase.refresh_from_db()
    assert purchase.points_awarded == 10
    assert_books_balance(*members)
