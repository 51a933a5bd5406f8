"""The referral review queue: approve and reject (with a reason) through the services."""

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from programs.models import Referral, ReferralStatus, RiskVerdict
from programs.services.memberships import membership_enroll
from programs.services.referrals import referral_register
from tests.factories import CustomerFactory, StaffFactory

CHANGELIST = "admin:programs_referral_changelist"


@pytest.fixture
def staff(db):
    return StaffFactory()


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def suspicious(membership, program, buy):
    """A friend who signed up from the IP the referrer shops from: waits for review."""
    buy(membership, "10.00", ip_address="198.51.100.7")

    def _referral():
        friend, _ = membership_enroll(customer=CustomerFactory(), program=program)
        return referral_register(
            referral_code=membership.referral_code, referee=friend, ip="198.51.100.7"
        )

    return _referral


def test_queue_lists_referrals_waiting_for_review(staff_client, suspicious, program):
    waiting = suspicious()
    friend, _ = membership_enroll(customer=CustomerFactory(), program=program)
    clear = referral_register(referral_code=waiting.referrer.referral_code, referee=friend)
    assert (waiting.status, clear.status) == (ReferralStatus.REVIEW, ReferralStatus.SIGNED_UP)

    response = staff_client.get(reverse(CHANGELIST))
    assert list(response.context["cl"].result_list) == [waiting]
    assert "dieselbe IP-Adresse wie der Empfehlende" in response.content.decode()


def test_approve_action(staff_client, staff, suspicious):
    referral = suspicious()
    response = staff_client.post(
        reverse(CHANGELIST),
        {"action": "approve_referrals", helpers.ACTION_CHECKBOX_NAME: [referral.pk], "index": 0},
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.SIGNED_UP
    assert referral.reviewed_by == staff
    assert referral.risk == RiskVerdict.SUSPICIOUS  # the verdict stays on record


def test_reject_action_asks_for_the_reason(staff_client, staff, suspicious):
    first, second = suspicious(), suspicious()
    selection = {
        "action": "reject_referrals",
        helpers.ACTION_CHECKBOX_NAME: [first.pk, second.pk],
    }

    page = staff_client.post(reverse(CHANGELIST), {**selection, "index": 0})
    assert page.status_code == 200
    assert "reason" in page.context["form"].fields
    assert Referral.objects.filter(status=ReferralStatus.REVIEW).count() == 2

    blank = staff_client.post(reverse(CHANGELIST), {**selection, "apply": "1", "reason": " "})
    assert blank.status_code == 200
    assert "reason" in blank.context["form"].errors
    assert Referral.objects.filter(status=ReferralStatus.REVIEW).count() == 2

    done = staff_client.post(
        reverse(CHANGELIST), {**selection, "apply": "1", "reason": "same household"}
    )
    assert done.status_code == 302
    for referral in (first, second):
        referral.refresh_from_db()
        assert referral.status == ReferralStatus.REJECTED
        assert referral.rejection_reason == "same household"
        assert referral.reviewed_by == staff

    page = staff_client.get(reverse("admin:programs_referral_change", args=[first.pk]))
    assert "same household" in page.content.decode()


def test_approve_and_reject_from_the_referral_page(staff_client, suspicious):
    approved, rejected = suspicious(), suspicious()

    response = staff_client.post(
        reverse("admin:programs_referral_approve", args=[approved.pk]), {"apply": "1"}
    )
    assert response.status_code == 302
    response = staff_client.post(
        reverse("admin:programs_referral_reject", args=[rejected.pk]), {"reason": "fake account"}
    )
    assert response.status_code == 302

    approved.refresh_from_db()
    rejected.refresh_from_db()
    assert approved.status == ReferralStatus.SIGNED_UP
    assert (rejected.status, rejected.rejection_reason) == (
        ReferralStatus.REJECTED,
        "fake account",
    )


def test_approving_a_settled_referral_is_a_form_error_not_a_500(staff_client, suspicious):
    referral = suspicious()
    staff_client.post(
        reverse("admin:programs_referral_reject", args=[referral.pk]), {"reason": "fake"}
    )
    response = staff_client.post(
        reverse("admin:programs_referral_approve", args=[referral.pk]), {"apply": "1"}
    )
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "Only referrals waiting for review can be approved."
    ]
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.REJECTED
