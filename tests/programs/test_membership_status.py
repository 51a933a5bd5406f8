"""Staff suspend, reactivate and close memberships, with a reason, in an audited status log;
a membership that is not active earns and redeems nothing."""

import pytest
from django.urls import reverse

from programs.errors import InvalidStatusChange, MembershipInactive
from programs.models import MembershipStatus, MembershipStatusChange
from programs.services.memberships import (
    membership_close,
    membership_reactivate,
    membership_suspend,
)
from programs.services.rewards import reward_redeem
from tests.factories import RewardFactory, StaffFactory


@pytest.fixture
def staff(db):
    return StaffFactory()


def test_suspend_blocks_earning_and_redeeming_until_reactivated(
    program, membership, buy, staff, system
):
    buy(membership, "100.00")
    reward = RewardFactory(program=program, points_cost=50)
    change = membership_suspend(membership=membership, reason="Betrugsverdacht", user=staff)
    assert (change.from_status, change.to_status) == (
        MembershipStatus.ACTIVE,
        MembershipStatus.SUSPENDED,
    )
    assert (change.reason, change.changed_by) == ("Betrugsverdacht", staff)
    with pytest.raises(MembershipInactive):
        buy(membership, "10.00")
    with pytest.raises(MembershipInactive):
        reward_redeem(membership=membership, reward=reward, actor=system)

    membership_reactivate(membership=membership, reason="Geklärt", user=staff)
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.ACTIVE
    assert membership.balance == 100  # points and tier stay as they were
    reward_redeem(membership=membership, reward=reward, actor=system)
    assert list(
        MembershipStatusChange.objects.filter(membership=membership)
        .order_by("id")
        .values_list("to_status", flat=True)
    ) == [MembershipStatus.SUSPENDED, MembershipStatus.ACTIVE]


def test_closed_is_final(membership, staff):
    membership_close(membership=membership, reason="Kunde hat gekündigt", user=staff)
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.CLOSED
    for change in (membership_reactivate, membership_suspend, membership_close):
        with pytest.raises(InvalidStatusChange):
            change(membership=membership, reason="noch einmal", user=staff)
    assert MembershipStatusChange.objects.filter(membership=membership).count() == 1


def test_only_a_suspended_membership_can_be_reactivated(membership, staff):
    with pytest.raises(InvalidStatusChange):
        membership_reactivate(membership=membership, reason="x", user=staff)
    membership_suspend(membership=membership, reason="x", user=staff)
    with pytest.raises(InvalidStatusChange):
        membership_suspend(membership=membership, reason="again", user=staff)


def test_a_reason_is_required(membership, staff):
    with pytest.raises(InvalidStatusChange) as excinfo:
        membership_suspend(membership=membership, reason="  ", user=staff)
    assert excinfo.value.details["field"] == "reason"
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.ACTIVE
    assert not MembershipStatusChange.objects.exists()


class TestAdmin:
    @pytest.fixture
    def staff_client(self, client, staff):
        client.force_login(staff)
        return client

    def url(self, membership, name="change_status"):
        return reverse(f"admin:programs_membership_{name}", args=[membership.pk])

    def test_suspend_from_the_admin_is_audited(self, staff_client, staff, membership):
        page = staff_client.get(self.url(membership, "change"))
        assert self.url(membership) in page.content.decode()
        response = staff_client.post(
            self.url(membership), {"change": "suspend", "reason": "Karte verloren"}
        )
        assert response.status_code == 302
        membership.refresh_from_db()
        assert membership.status == MembershipStatus.SUSPENDED
        change = MembershipStatusChange.objects.get(membership=membership)
        assert (change.reason, change.changed_by) == ("Karte verloren", staff)
        page = staff_client.get(self.url(membership, "change"))
        assert "Karte verloren" in page.content.decode()  # the status log on the page

    def test_reason_is_required(self, staff_client, membership):
        response = staff_client.post(self.url(membership), {"change": "suspend"})
        assert response.status_code == 200
        assert "reason" in response.context["form"].errors
        membership.refresh_from_db()
        assert membership.status == MembershipStatus.ACTIVE

    def test_only_possible_changes_are_offered(self, staff_client, membership):
        response = staff_client.post(self.url(membership), {"change": "reactivate", "reason": "x"})
        assert response.status_code == 200
        assert "change" in response.context["form"].errors
        membership.refresh_from_db()
        assert membership.status == MembershipStatus.ACTIVE

    def test_closed_membership_offers_no_status_change(self, staff_client, staff, membership):
        membership_close(membership=membership, reason="gekündigt", user=staff)
        page = staff_client.get(self.url(membership, "change"))
        assert self.url(membership) not in page.content.decode()
