"""Membership operations in the admin: adjust points, set a tier, sell a subscription tier,
enroll. Each goes through its service; domain errors come back as form errors."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import WARNING, get_messages
from django.urls import reverse
from django.utils import timezone

from programs.admin import membership_operations as memberships_admin
from programs.models import (
    EntryKind,
    EntrySource,
    LedgerEntry,
    Membership,
    Purchase,
    SubscriptionPeriod,
    Tier,
    TierChangeReason,
    TierKind,
    TierSubscription,
)
from programs.services.due import ledger_drift
from tests.factories import CustomerFactory, ProgramFactory, StaffFactory


@pytest.fixture
def staff(db):
    return StaffFactory()


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def url(name, membership):
    return reverse(f"admin:programs_membership_{name}", args=[membership.pk])


def adjustment_form(client, membership):
    """The form as staff get it: with the idempotency key made when it was shown."""
    response = client.get(url("adjust_points", membership))
    assert response.status_code == 200
    return {"idempotency_key": response.context["form"]["idempotency_key"].value()}


def levels(response):
    return [m.level for m in get_messages(response.wsgi_request)]


class TestAdjustPoints:
    def test_credit_writes_an_audited_entry(self, staff_client, staff, membership):
        data = adjustment_form(staff_client, membership)
        response = staff_client.post(
            url("adjust_points", membership), {**data, "points": 250, "reason": "Kulanz"}
        )

        assert response.status_code == 302
        assert response["Location"] == url("change", membership)
        entry = LedgerEntry.objects.get(membership=membership)
        assert (entry.kind, entry.source, entry.points) == (
            EntryKind.ADJUST,
            EntrySource.STAFF,
            250,
        )
        assert entry.actor_user == staff
        assert entry.reason == "Kulanz"
        assert entry.balance_after == 250
        assert entry.idempotency_key == data["idempotency_key"]
        membership.refresh_from_db()
        assert membership.balance == 250
        assert ledger_drift() == []

    def test_reason_is_required(self, staff_client, membership):
        data = adjustment_form(staff_client, membership)
        response = staff_client.post(
            url("adjust_points", membership), {**data, "points": 250, "reason": "   "}
        )

        assert response.status_code == 200
        assert "reason" in response.context["form"].errors
        assert not LedgerEntry.objects.filter(membership=membership).exists()

    def test_double_submit_applies_once(self, staff_client, membership):
        data = {**adjustment_form(staff_client, membership), "points": 100, "reason": "Bon"}

        first = staff_client.post(url("adjust_points", membership), data)
        second = staff_client.post(url("adjust_points", membership), data)

        assert first.status_code == second.status_code == 302
        assert WARNING in levels(second)
        assert LedgerEntry.objects.filter(membership=membership).count() == 1
        membership.refresh_from_db()
        assert membership.balance == 100

    def test_double_submit_racing_past_the_check_applies_once(
        self, staff_client, membership, monkeypatch
    ):
        """Two submits at once both pass the admin's early check; the service, which looks
        the key up again under the membership lock, applies the adjustment once."""
        data = {**adjustment_form(staff_client, membership), "points": 100, "reason": "Bon"}
        staff_client.post(url("adjust_points", membership), data)
        real_lookup = memberships_admin.entry_by_key
        lookups = iter([None])
        monkeypatch.setattr(
            memberships_admin, "entry_by_key", lambda key: next(lookups, real_lookup(key))
        )

        second = staff_client.post(url("adjust_points", membership), data)

        assert second.status_code == 302
        assert LedgerEntry.objects.filter(membership=membership).count() == 1
        membership.refresh_from_db()
        assert membership.balance == 100

    def test_each_opened_form_is_a_new_adjustment(self, staff_client, membership):
        for _ in range(2):
            data = adjustment_form(staff_client, membership)
            staff_client.post(
                url("adjust_points", membership), {**data, "points": 10, "reason": "x"}
            )
        membership.refresh_from_db()
        assert membership.balance == 20

    def test_taking_more_than_available_is_a_form_error_not_a_500(self, staff_client, membership):
        data = adjustment_form(staff_client, membership)
        response = staff_client.post(
            url("adjust_points", membership), {**data, "points": -50, "reason": "Korrektur"}
        )

        assert response.status_code == 200
        assert response.context["form"].non_field_errors() == [
            "Only 0 points are available to take away."
        ]
        assert not LedgerEntry.objects.filter(membership=membership).exists()

    def test_forged_key_is_refused(self, staff_client, membership, buy):
        purchase = buy(membership, "10.00")
        response = staff_client.post(
            url("adjust_points", membership),
            {"idempotency_key": f"purchase:{purchase.pk}:earn", "points": 5, "reason": "x"},
        )
        assert response.status_code == 200
        assert "idempotency_key" in response.context["form"].errors
        assert LedgerEntry.objects.filter(membership=membership).count() == 1


class TestSetTier:
    def test_override_is_audited(self, staff_client, staff, membership, tiers):
        until = timezone.localtime() + timedelta(days=30)
        response = staff_client.post(
            url("set_tier", membership),
            {
                "tier": tiers["Gold"].pk,
                "until_0": until.date().isoformat(),
                "until_1": "12:00:00",
                "reason": "Beschwerde gelöst",
            },
        )

        assert response.status_code == 302
        membership.refresh_from_db()
        assert membership.tier == tiers["Gold"]
        assert membership.override_until.date() == until.date()
        change = membership.tier_changes.order_by("-id").first()
        assert change.reason == TierChangeReason.OVERRIDE
        assert change.changed_by == staff
        assert change.note == "Beschwerde gelöst"
        assert (change.from_tier, change.to_tier) == (tiers["Bronze"], tiers["Gold"])

    def test_reason_is_required(self, staff_client, membership, tiers):
        response = staff_client.post(url("set_tier", membership), {"tier": tiers["Gold"].pk})
        assert response.status_code == 200
        assert "reason" in response.context["form"].errors
        membership.refresh_from_db()
        assert membership.tier == tiers["Bronze"]

    def test_end_in_the_past_is_refused_by_the_service(self, staff_client, membership, tiers):
        yesterday = timezone.localtime() - timedelta(days=1)
        response = staff_client.post(
            url("set_tier", membership),
            {
                "tier": tiers["Gold"].pk,
                "until_0": yesterday.date().isoformat(),
                "until_1": "12:00:00",
                "reason": "x",
            },
        )
        assert response.status_code == 200
        assert response.context["form"].non_field_errors()
        membership.refresh_from_db()
        assert membership.tier == tiers["Bronze"]

    def test_tier_of_another_program_is_not_offered(self, staff_client, membership):
        other = Tier.objects.create(program=ProgramFactory(), name="Fremd", rank=0)
        response = staff_client.post(url("set_tier", membership), {"tier": other.pk, "reason": "x"})
        assert "tier" in response.context["form"].errors


@pytest.fixture
def vip(program):
    return Tier.objects.create(
        program=program,
        name="VIP",
        rank=10,
        kind=TierKind.SUBSCRIPTION,
        subscription_price=Decimal("9.90"),
        subscription_period=SubscriptionPeriod.MONTH,
    )


class TestSellSubscription:
    def test_sells_once_per_order(self, staff_client, membership, partner, vip):
        page = staff_client.get(url("sell_subscription", membership))
        order_id = page.context["form"]["order_id"].value()
        data = {"tier": vip.pk, "partner": partner.pk, "order_id": order_id}

        first = staff_client.post(url("sell_subscription", membership), data)
        second = staff_client.post(url("sell_subscription", membership), data)

        assert first.status_code == second.status_code == 302
        subscription = TierSubscription.objects.get(membership=membership)
        assert subscription.purchase.order_id == order_id
        assert subscription.purchase.amount == Decimal("9.90")
        membership.refresh_from_db()
        assert membership.tier == vip

    def test_order_id_of_another_purchase_is_a_form_error(
        self, staff_client, membership, partner, vip, buy
    ):
        buy(membership, "10.00", order_id="TAKEN")
        response = staff_client.post(
            url("sell_subscription", membership),
            {"tier": vip.pk, "partner": partner.pk, "order_id": "TAKEN"},
        )
        assert response.status_code == 200
        assert "order_id" in response.context["form"].errors
        assert not TierSubscription.objects.exists()
        assert Purchase.objects.count() == 1


class TestEnroll:
    def test_add_membership_enrolls_through_the_service(self, staff_client, program, tiers):
        customer = CustomerFactory()
        response = staff_client.post(
            reverse("admin:programs_membership_add"),
            {"customer": customer.pk, "program": program.pk},
        )

        membership = Membership.objects.get(customer=customer, program=program)
        assert response["Location"] == url("change", membership)
        assert membership.tier == tiers["Bronze"]
        assert membership.referral_code
        assert membership.tier_changes.get().reason == TierChangeReason.ENROLLED

    def test_enrolling_again_changes_nothing(self, staff_client, membership):
        data = {"customer": membership.customer_id, "program": membership.program_id}
        response = staff_client.post(reverse("admin:programs_membership_add"), data)
        assert response["Location"] == url("change", membership)
        assert WARNING in levels(response)
        assert Membership.objects.count() == 1

    def test_inactive_program_is_not_offered(self, staff_client):
        program = ProgramFactory(is_active=False)
        response = staff_client.post(
            reverse("admin:programs_membership_add"),
            {"customer": CustomerFactory().pk, "program": program.pk},
        )
        assert "program" in response.context["form"].errors
        assert not Membership.objects.exists()

    def test_customer_autocomplete_searches_by_email(self, staff_client):
        customer = CustomerFactory(email="gesucht@example.com")
        CustomerFactory()
        response = staff_client.get(
            reverse("admin:autocomplete"),
            {
                "app_label": "programs",
                "model_name": "membership",
                "field_name": "customer",
                "term": "gesucht",
            },
        )
        assert [r["id"] for r in response.json()["results"]] == [str(customer.pk)]


def test_operations_need_the_change_permission(client, membership):
    viewer = StaffFactory(is_superuser=False)
    client.force_login(viewer)
    assert client.get(url("adjust_points", membership)).status_code == 403
    assert client.get(url("set_tier", membership)).status_code == 403
