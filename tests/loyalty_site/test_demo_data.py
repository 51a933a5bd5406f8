"""The demo data command: loads once, exercises every program kind, leaves a clean ledger."""

from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Customer, CustomerKind
from loyalty_site.demo.accounts import ACCOUNT_PEOPLE, BUSINESS_NAME, HOUSEHOLD_NAME
from programs.models import (
    Account,
    AccountKind,
    AccountRole,
    ActionEvent,
    Campaign,
    CampaignAward,
    EntryKind,
    EntrySource,
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
    Transfer,
    TransferStatus,
)
from programs.services.due import ledger_drift
from surveys.engagement.models import EngagementScore
from surveys.models import MemberValueFit, MetricSnapshot
from tests.factories import StaffFactory

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
        with CaptureQueriesContext(connection) as queries:
            call_command("demo_data", customers=25, seed=1, stdout=first)
        counts = _row_counts()
        call_command("demo_data", customers=25, seed=1, stdout=second)
        yield {
            "first": first.getvalue(),
            "second": second.getvalue(),
            "counts": counts,
            "queries": len(queries),
        }
        transaction.set_rollback(True)


pytestmark = pytest.mark.django_db


def test_second_run_changes_nothing(demo):
    assert "Demo data loaded" in demo["first"]
    assert "Demo data already present" in demo["second"]
    assert _row_counts() == demo["counts"]
    people = Customer.objects.filter(kind=CustomerKind.PERSON)
    assert people.count() == 25 + ACCOUNT_PEOPLE  # the accounts' people come on top
    assert Customer.objects.filter(kind=CustomerKind.SHARED).count() == 2


def test_the_load_is_set_based(demo):
    # Purchases and actions are written in batches (loyalty_site.demo.batches), not one
    # by one (about forty queries each): what is left is mostly per customer (about 2,800
    # queries for 25 customers and their 256 purchases).
    assert demo["queries"] < 15 * Purchase.objects.count()


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
    assert coffee.action_rules.count() == 4
    assert ActionEvent.objects.filter(rule__code="bewertung").exists()
    birthdays = LedgerEntry.objects.filter(
        source=EntrySource.OCCASION, reason__startswith="Geburtstagsbonus"
    )
    assert birthdays.filter(membership__program=coffee).exists()  # the daily job's
    assert coffee.earn_rules.filter(excluded=True, category="Geschenkgutscheine").exists()
    now = timezone.now()
    running = Campaign.objects.get(program=coffee, starts_at__lte=now, ends_at__gt=now)
    assert running.cap_per_member
    assert Campaign.objects.filter(program=coffee, ends_at__lt=now).count() == 3
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


def test_a_finished_campaign_with_a_holdout_and_a_segment(demo, client):
    from programs.models import CampaignMember, Segment
    from programs.segments import segment_members
    from surveys.campaign_results import campaign_results

    now = timezone.now()
    comeback = Campaign.objects.get(holdout_percent__gt=0, ends_at__lt=now)
    audience = CampaignMember.objects.filter(campaign=comeback)
    assert audience.filter(in_holdout=False).exists()
    held_out = set(audience.filter(in_holdout=True).values_list("membership", flat=True))
    awards = CampaignAward.objects.filter(campaign=comeback)
    assert awards.exists()
    assert not awards.filter(membership__in=held_out).exists()  # the holdout got nothing
    assert comeback.points_awarded == sum(awards.values_list("points", flat=True))
    results = campaign_results(comeback, now=now)
    assert results.reached.members + results.holdout.members == audience.count()
    client.force_login(StaffFactory())
    page = client.get(f"/admin/surveys/metricsdashboard/campaigns/{comeback.pk}/results/")
    assert page.status_code == 200
    assert comeback.name in page.content.decode()
    segment = Segment.objects.get()
    assert segment.conditions.count() == 4
    members = segment_members(segment, now=now)
    # every member found is a regular slipping away: at risk, or 60+ days since buying
    for membership in members.select_related("figures"):
        bought = membership.purchases.filter(status="awarded").order_by("-occurred_at").first()
        assert membership.figures.churn_risk or now - bought.occurred_at >= timedelta(days=60)
    page = client.get(f"/admin/programs/segment/{segment.pk}/change/")
    assert page.status_code == 200


def _roles(account: Account) -> list[str]:
    members = account.members.filter(left_at__isnull=True).order_by("role")
    return sorted(members.values_list("role", flat=True))


def test_a_business_and_a_household_pool_their_points(demo, client):
    business = Account.objects.select_related("holder__tier").get(name=BUSINESS_NAME)
    household = Account.objects.select_related("holder__tier").get(name=HOUSEHOLD_NAME)
    assert (business.kind, household.kind) == (AccountKind.BUSINESS, AccountKind.HOUSEHOLD)
    assert business.vat_id.startswith("DE")
    assert business.postal_code
    assert business.city
    assert _roles(business) == ["buyer", "buyer", "buyer", "owner", "viewer"]
    assert business.members.filter(role=AccountRole.BUYER, monthly_limit__isnull=False).count() == 1
    assert _roles(household) == ["head", "member", "member"]
    # every buyer bought for the company, with a purchase order number: pooled, tiered
    buyers = business.members.filter(role__in=[AccountRole.OWNER, AccountRole.BUYER])
    for member in buyers:
        bought = Purchase.objects.filter(membership=business.holder, placed_by=member.membership)
        assert bought.exists()
        assert not bought.filter(po_reference="").exists()
    assert business.holder.balance > 0
    assert business.holder.tier.name == "Gold"
    assert household.holder.balance > 0
    assert household.holder.tier is not None
    assert Redemption.objects.filter(membership=business.holder, placed_by__isnull=False)
    done = Transfer.objects.get(status=TransferStatus.DONE)
    assert done.recipient_id == household.holder_id
    waiting = Transfer.objects.get(status=TransferStatus.REVIEW)
    assert waiting.review_reasons
    client.force_login(StaffFactory())
    for url in (
        f"/admin/programs/account/{business.pk}/change/",
        f"/admin/programs/account/{household.pk}/change/",
        f"/admin/programs/transfer/{waiting.pk}/change/",
    ):
        assert client.get(url).status_code == 200


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


def test_an_order_counts_at_its_date_not_the_day_of_the_load(demo):
    now = timezone.now()
    old = (
        Purchase.objects.filter(status=PurchaseStatus.AWARDED, points_awarded__gt=0)
        .filter(occurred_at__lt=now - timedelta(days=300), subscription__isnull=True)
        .earliest("occurred_at")
    )
    earn = LedgerEntry.objects.get(purchase=old, kind=EntryKind.EARN)
    assert earn.effective_at == old.occurred_at  # e.g. an order of March shows in March
    assert earn.created_at > now - timedelta(hours=1)  # recorded by the load
    # Every earn of a purchase, and every return, is dated by its purchase.
    purchase_entries = LedgerEntry.objects.filter(
        purchase__isnull=False, kind__in=[EntryKind.EARN, EntryKind.REVERSE]
    )
    assert not purchase_entries.exclude(effective_at=F("purchase__occurred_at")).exists()


def test_redemptions_are_spread_over_the_months_they_were_made(demo):
    redeemed = LedgerEntry.objects.filter(kind=EntryKind.REDEEM)
    months = {
        timezone.localtime(at).strftime("%Y-%m")
        for at in redeemed.values_list("effective_at", flat=True)
    }
    assert len(months) >= 3, months
    for redemption in Redemption.objects.all():
        entry = redemption.entries.get(kind=EntryKind.REDEEM)
        assert entry.effective_at == redemption.created_at
    anna = Customer.objects.get(email=ANNA)
    cancelled = Redemption.objects.get(membership__customer=anna, status=RedemptionStatus.CANCELLED)
    back = cancelled.entries.get(kind=EntryKind.REDEEM_CANCEL)
    assert back.effective_at == cancelled.cancelled_at  # she changed her mind the next day
    assert cancelled.created_at.date() < back.effective_at.date()


def test_points_expired_on_the_night_they_fell_due(demo):
    expired = LedgerEntry.objects.filter(kind=EntryKind.EXPIRE)
    assert expired.exists()
    # Anna's first city card points (27 and 26 months ago, 24 months' validity) lapsed
    # two to three months before the load, not on the day of it.
    anna_city = Membership.objects.get(customer__email=ANNA, program__slug="stadtkarte-freiburg")
    lapsed = expired.filter(membership=anna_city)
    assert lapsed.count() >= 2
    assert all(
        at < timezone.now() - timedelta(days=40)
        for at in lapsed.values_list("effective_at", flat=True)
    )
    for entry in lapsed:
        lot = entry.allocations.get().lot
        assert lot.expires_at <= entry.effective_at < lot.expires_at + timedelta(days=1)


def test_engagement_and_snapshots_are_computed_at_load(demo):
    memberships = Membership.objects.count()
    assert EngagementScore.objects.count() == memberships
    assert Membership.objects.filter(figures__engagement_score__isnull=False).count() == (
        memberships
    )
    assert (
        MetricSnapshot.objects.filter(points_issued__gt=0).values("period").distinct().count() >= 12
    )
    # the customer-value fit ran for every program: fitted, or its failure parked
    fits = MemberValueFit.objects.all()
    assert fits.count() == Program.objects.count()
    assert all(fit.fitted_at or fit.failure_reason for fit in fits)


def test_too_few_customers_is_refused(demo):
    with pytest.raises(CommandError, match="at least"):
        call_command("demo_data", customers=3, stdout=StringIO())
