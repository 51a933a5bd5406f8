"""Rewards (configuration) and redemptions (cancel, mark used) in the admin."""

import pytest
from django.contrib.admin import helpers
from django.contrib.messages import ERROR, get_messages
from django.urls import reverse

from programs.models import RedemptionStatus, Reward
from programs.services.rewards import reward_redeem
from tests.factories import RewardFactory, StaffFactory, TierFactory

CHANGELIST = "admin:programs_redemption_changelist"


@pytest.fixture
def staff_client(client, db):
    client.force_login(StaffFactory())
    return client


@pytest.fixture
def redemption(membership, buy, system):
    buy(membership, "100.00")
    reward = RewardFactory(program=membership.program, points_cost=40, stock=3)
    return reward_redeem(membership=membership, reward=reward, actor=system)


def act(client, action, redemption):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, helpers.ACTION_CHECKBOX_NAME: [redemption.pk], "index": 0},
    )


def test_cancel_restores_points_and_stock(staff_client, redemption, membership):
    membership.refresh_from_db()
    assert membership.balance == 60

    assert act(staff_client, "cancel_redemptions", redemption).status_code == 302

    redemption.refresh_from_db()
    redemption.reward.refresh_from_db()
    membership.refresh_from_db()
    assert redemption.status == RedemptionStatus.CANCELLED
    assert redemption.reward.stock == 3
    assert membership.balance == 100


def test_mark_used_then_cancel_is_refused_with_a_message(staff_client, redemption, membership):
    act(staff_client, "mark_used", redemption)
    redemption.refresh_from_db()
    assert redemption.status == RedemptionStatus.USED

    response = act(staff_client, "cancel_redemptions", redemption)
    assert response.status_code == 302
    assert ERROR in [m.level for m in get_messages(response.wsgi_request)]
    redemption.refresh_from_db()
    membership.refresh_from_db()
    assert redemption.status == RedemptionStatus.USED
    assert membership.balance == 60


def reward_data(reward, **changes):
    data = {
        "program": reward.program_id,
        "name": reward.name,
        "description": "",
        "is_active": "on",
        "points_cost": reward.points_cost,
        "stock": reward.stock if reward.stock is not None else "",
        "min_tier": reward.min_tier_id or "",
        "active_from_0": "",
        "active_from_1": "",
        "active_until_0": "",
        "active_until_1": "",
        "per_member_limit": "",
    }
    return {**data, **changes}


def test_stock_edit_keeps_redemptions_made_meanwhile(staff_client, redemption):
    reward = redemption.reward
    url = reverse("admin:programs_reward_change", args=[reward.pk])
    form = staff_client.get(url).context["adminform"].form
    assert form.initial["stock"] == 2
    # A redemption happens while the form is open: stock 2 -> 1.
    Reward.objects.filter(pk=reward.pk).update(stock=1)

    # Staff restock from 2 to 12 (+10), as the form showed them.
    data = reward_data(reward, stock=12)
    response = staff_client.post(url, {**data, "initial-stock": 2})

    assert response.status_code == 302
    reward.refresh_from_db()
    assert reward.stock == 11


def test_editing_other_fields_leaves_stock_alone(staff_client, redemption):
    reward = redemption.reward
    url = reverse("admin:programs_reward_change", args=[reward.pk])
    Reward.objects.filter(pk=reward.pk).update(stock=1)  # redeemed while the form was open

    data = reward_data(reward, name="Kinogutschein", stock=2)
    staff_client.post(url, {**data, "initial-stock": 2})

    reward.refresh_from_db()
    assert (reward.name, reward.stock) == ("Kinogutschein", 1)


def test_stock_cannot_be_taken_below_zero(staff_client, redemption):
    reward = redemption.reward
    url = reverse("admin:programs_reward_change", args=[reward.pk])
    Reward.objects.filter(pk=reward.pk).update(stock=0)

    response = staff_client.post(url, {**reward_data(reward, stock=0), "initial-stock": 2})

    assert ERROR in [m.level for m in get_messages(response.wsgi_request)]
    reward.refresh_from_db()
    assert reward.stock == 0


def test_min_tier_must_belong_to_the_program(staff_client, redemption):
    reward = redemption.reward
    url = reverse("admin:programs_reward_change", args=[reward.pk])
    response = staff_client.post(url, reward_data(reward, min_tier=TierFactory().pk))
    assert response.status_code == 200
    assert "min_tier" in response.context["adminform"].form.errors
