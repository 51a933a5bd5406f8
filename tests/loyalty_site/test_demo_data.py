"""The demo data command: loads once, exercises every program kind, leaves a clean ledger."""

from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from customers.models import Customer
from programs.models import (
    ActionEvent,
    Campaign,
    CampaignAward,
    EntryKind,
    ExpiryPolicy,
    LedgerEntry,
    Membership,
    PointLot,
    Program,
    Purchase,
    PurchaseStatus,
    Redemption,
    RedemptionStatus,
    Referral,
    ReferralStatus,
    Refund,
    Tier,
    TierChange,
    TierChangeReason,
    TierKind,
    TierMetric,
    TierSubscription,
)
from programs.services.due import ledger_drift

ANNA = "anna.schmidt@example.com"


def _row_counts() -> dict[str, int]:
    models = [*apps.get_app_config("programs").get_models(), Customer]
    models.append(apps.get_model("auth", "User"))
    return {model._meta.label: model.objects.count() for model in models}


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """Load once for the module (it takes seconds) inside a transaction that is rolled
    back afterwards; each test runs in a savepoint within it."""
    with django_db_blocker.unblock(), transaction.atomic():
        first, second = StringIO(), StringIO()
        call_command("demo_data", customers=25, seed=1, stdout=first)
        counts = _row_counts()
        call_command("demo_data", customers=25, seed=1, stdout=second)
        yield {"first": first.getvalue(), "second": second.getvalue(), "counts": counts}
        transaction.set_rollback(True)


pytestmark = pytest.mark.django_db


def test_second_run_changes_nothing(demo):
    assert "Demo data loaded" in demo["first"]
    assert "Demo data already present" in demo["second"]
    assert _row_counts() == demo["counts"]
    assert Customer.objects.count() == 25


def test_demo_logins_work(demo, client):
    # Through the real login pages: the axes backend refuses requestless authenticate().
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "staff", "password": "loyalty-demo"}
    )
    assert response.status_code == 302, response.content[:500]
    assert client.get("/admin/").status_code == 200
    client.logout()
    response = client.post("/portal/login/", {"username": ANNA, "password": "loyalty-demo"})
    assert response.status_code == 302, response.content[:500]
    anna = Customer.objects.get(email=ANNA)
    assert anna.user is not None
    assert not anna.user.is_staff
    assert client.get(response["Location"], follow=True).context["user"] == anna.user


def test_anna_is_gold_with_a_rich_history(demo):
    anna = Membership.objects.select_related("tier").get(
        customer__email=ANNA, program__slug="kaffeeroesterei-mueller"
    )
    assert anna.tier.name == "Gold"
    assert anna.balance > 0
    assert anna.pending > 0  # beans ordered two days ago, still in the return window
    statuses = set(anna.redemptions.values_list("status", flat=True))
    assert statuses == {RedemptionStatus.USED, RedemptionStatus.ISSUED, RedemptionStatus.CANCELLED}
    assert PointLot.objects.filter(membership=anna, remaining__gt=0, expires_at__isnull=False)
    assert anna.customer.memberships.count() == 2
    assert Referral.objects.filter(referrer=anna).exists()


def test_every_program_kind_is_present(demo):
    coffee = Program.objects.get(slug="kaffeeroesterei-mueller")
    city = Program.objects.get(slug="stadtkarte-freiburg")
    assert (coffee.tier_metric, city.tier_metric) == (TierMetric.SPEND, TierMetric.POINTS)
    assert city.expiry_policy == ExpiryPolicy.FIXED_PERIOD
    names = list(coffee.tiers.filter(kind=TierKind.QUALIFIED).values_list("name", flat=True))
    assert names == ["Bronze", "Silber", "Gold", "Platin"]
    vip = Tier.objects.get(program=coffee, kind=TierKind.SUBSCRIPTION)
    assert TierSubscription.objects.filter(tier=vip).exists()
    assert Membership.objects.filter(tier=vip).exists()
    assert TierChange.objects.filter(reason=TierChangeReason.OVERRIDE, changed_by__isnull=False)
    assert coffee.action_rules.count() == 5
    assert ActionEvent.objects.filter(rule__code="geburtstag").exists()
    assert coffee.earn_rules.filter(excluded=True, category="Geschenkgutscheine").exists()
    now = timezone.now()
    running = Campaign.objects.get(program=coffee, starts_at__lte=now, ends_at__gt=now)
    assert running.cap_per_member
    assert Campaign.objects.filter(program=coffee, ends_at__lt=now).count() == 2
    assert CampaignAward.objects.filter(campaign=running).exists()
    statuses = set(Referral.objects.values_list("status", flat=True))
    assert statuses >= {
        ReferralStatus.SIGNED_UP,
        ReferralStatus.REVIEW,
        ReferralStatus.QUALIFIED,
        ReferralStatus.REWARDED,
        ReferralStatus.REJECTED,
    }
    rejected = Referral.objects.filter(status=ReferralStatus.REJECTED)
    assert not rejected.filter(rejection_reason="").exists()
    assert Membership.objects.filter(customer__memberships__program=city, program=coffee)


def test_history_is_believable(demo):
    now = timezone.now()
    purchases = Purchase.objects.filter(subscription__isnull=True)
    oldest = purchases.filter(program__slug="kaffeeroesterei-mueller").earliest("occurred_at")
    assert oldest.occurred_at < now - timedelta(days=365)
    assert not purchases.filter(occurred_at__gt=now).exists()
    assert not purchases.filter(status=PurchaseStatus.RECEIVED).exists()
    assert Refund.objects.exists()
    assert Redemption.objects.exclude(membership__customer__email=ANNA).exists()
    kinds = set(LedgerEntry.objects.values_list("kind", flat=True))
    assert kinds >= {EntryKind.EARN, EntryKind.REDEEM, EntryKind.REVERSE, EntryKind.EXPIRE}


def test_ledger_has_no_drift(demo):
    assert ledger_drift() == []


def test_too_few_customers_is_refused(demo):
    with pytest.raises(CommandError, match="at least"):
        call_command("demo_data", customers=3, stdout=StringIO())
