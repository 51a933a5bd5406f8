"""Vouchers: their expiry date, using one at a till (each status transition, the expiry
boundary), which partners can find one, and staff marking one used in the admin."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.admin import helpers
from django.contrib.messages import ERROR, get_messages
from django.urls import reverse
from django.utils import timezone

from programs.errors import (
    RedemptionNotCancellable,
    RedemptionNotUsable,
    VoucherCancelled,
    VoucherExpired,
    VoucherNotFound,
    VoucherUsed,
)
from programs.models import Redemption, RedemptionStatus
from programs.services.rewards import redemption_cancel, reward_redeem
from programs.services.vouchers import redemption_use, voucher_find, voucher_use
from programs.vouchers import voucher_code_clean, voucher_expiry, voucher_status
from tests.factories import PartnerFactory, ProgramFactory, RewardFactory, StaffFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def rich(membership, buy):
    buy(membership, "500.00")
    membership.refresh_from_db()
    return membership


@pytest.fixture
def reward(program):
    return RewardFactory(program=program, name="Cappuccino", points_cost=100, voucher_valid_days=30)


@pytest.fixture
def voucher(rich, reward, system):
    return reward_redeem(membership=rich, reward=reward, actor=system)


# --- expiry -------------------------------------------------------------------------------


def test_a_voucher_is_valid_to_the_end_of_its_last_day_in_berlin(rich, reward, system):
    redeemed = datetime(2026, 3, 1, 14, 0, tzinfo=BERLIN)  # 30 days cross summer time
    redemption = reward_redeem(membership=rich, reward=reward, actor=system, at=redeemed)
    assert redemption.expires_at == datetime(2026, 3, 31, 23, 59, 59, tzinfo=BERLIN)
    # Late in the evening UTC is already the next day in Berlin: that day counts.
    assert voucher_expiry(0, datetime(2026, 6, 30, 22, 30, tzinfo=ZoneInfo("UTC"))) == (
        datetime(2026, 7, 1, 23, 59, 59, tzinfo=BERLIN)
    )


def test_a_reward_without_validity_gives_vouchers_that_never_expire(rich, program, system):
    forever = RewardFactory(program=program, points_cost=10)
    redemption = reward_redeem(membership=rich, reward=forever, actor=system)
    assert redemption.expires_at is None
    assert voucher_status(redemption, timezone.now() + timedelta(days=3650)) == "issued"


def test_expired_is_shown_not_stored(voucher):
    assert voucher_status(voucher, voucher.expires_at) == "issued"
    assert voucher_status(voucher, voucher.expires_at + timedelta(seconds=1)) == "expired"
    voucher.refresh_from_db()
    assert voucher.status == RedemptionStatus.ISSUED


# --- using a voucher ----------------------------------------------------------------------


def test_an_issued_voucher_is_used_once_and_the_partner_recorded(voucher, partner):
    used = voucher_use(partner=partner, code=voucher.voucher_code)
    assert (used.status, used.used_by_partner) == (RedemptionStatus.USED, partner)
    assert used.used_at is not None
    with pytest.raises(VoucherUsed) as refused:
        voucher_use(partner=partner, code=voucher.voucher_code)
    assert refused.value.status == 409
    assert refused.value.details["used_at"] == timezone.localtime(used.used_at).isoformat()
    assert refused.value.details["used_by_you"] is True
    when = timezone.localtime(used.used_at, BERLIN).strftime("%Y-%m-%d %H:%M")
    assert when in str(refused.value.message)


def test_the_expiry_boundary(voucher, partner):
    last_moment = voucher.expires_at
    with pytest.raises(VoucherExpired) as refused:
        voucher_use(
            partner=partner, code=voucher.voucher_code, at=last_moment + timedelta(seconds=1)
        )
    assert refused.value.details["expires_at"] == timezone.localtime(last_moment).isoformat()
    voucher.refresh_from_db()
    assert voucher.status == RedemptionStatus.ISSUED
    used = voucher_use(partner=partner, code=voucher.voucher_code, at=last_moment)
    assert (used.status, used.used_at) == (RedemptionStatus.USED, last_moment)


def test_a_cancelled_voucher_cannot_be_used(voucher, partner, system):
    redemption_cancel(redemption=voucher, actor=system)
    with pytest.raises(VoucherCancelled):
        voucher_use(partner=partner, code=voucher.voucher_code)
    voucher.refresh_from_db()
    assert voucher.status == RedemptionStatus.CANCELLED


def test_a_used_voucher_cannot_be_cancelled(voucher, partner, system, rich):
    rich.refresh_from_db()
    balance = rich.balance
    voucher_use(partner=partner, code=voucher.voucher_code)
    with pytest.raises(RedemptionNotCancellable):
        redemption_cancel(redemption=voucher, actor=system)
    rich.refresh_from_db()
    assert rich.balance == balance


def test_before_expiry_the_member_may_cancel_after_it_no_points_come_back(rich, reward, system):
    balance = rich.balance
    kept = reward_redeem(membership=rich, reward=reward, actor=system)
    lapsed = reward_redeem(membership=rich, reward=reward, actor=system)
    redemption_cancel(redemption=kept, actor=system, at=kept.expires_at)
    with pytest.raises(RedemptionNotCancellable) as refused:
        redemption_cancel(
            redemption=lapsed, actor=system, at=lapsed.expires_at + timedelta(seconds=1)
        )
    assert "abgelaufen" in str(refused.value.message)
    rich.refresh_from_db()
    lapsed.refresh_from_db()
    assert rich.balance == balance - 100  # the cancelled voucher's 100 came back
    assert lapsed.status == RedemptionStatus.ISSUED


def test_the_use_errors_are_redemption_not_usable():
    """Callers that knew only ``RedemptionNotUsable`` (the admin) still catch them all."""
    for error in (VoucherUsed, VoucherCancelled, VoucherExpired):
        assert issubclass(error, RedemptionNotUsable)
        assert error.status == 409


# --- which partners find a voucher ---------------------------------------------------------


def test_a_partner_of_the_program_finds_it_linked_or_not(voucher, program):
    merchant = PartnerFactory(programs=[program])  # never linked the member
    found = voucher_find(partner=merchant, code=voucher.voucher_code)
    assert found == voucher
    assert found.member_external_id is None
    used = voucher_use(partner=merchant, code=voucher.voucher_code)
    assert used.used_by_partner == merchant


def test_a_partner_of_another_program_finds_nothing(voucher):
    stranger = PartnerFactory(programs=[ProgramFactory()])
    assert voucher_find(partner=stranger, code=voucher.voucher_code) is None
    with pytest.raises(VoucherNotFound) as refused:
        voucher_use(partner=stranger, code=voucher.voucher_code)
    assert (refused.value.status, refused.value.code) == (404, "voucher_not_found")
    voucher.refresh_from_db()
    assert voucher.status == RedemptionStatus.ISSUED


def test_the_code_as_typed_any_case_without_hyphens(voucher, partner):
    typed = voucher.voucher_code.replace("-", " ").lower()
    assert voucher_code_clean(typed) == voucher.voucher_code
    assert voucher_find(partner=partner, code=typed) == voucher
    assert voucher_find(partner=partner, code="ABCD-EFGH") is None


# --- staff ---------------------------------------------------------------------------------


def _mark_used(client, redemption):
    client.force_login(StaffFactory())
    return client.post(
        reverse("admin:programs_redemption_changelist"),
        {"action": "mark_used", helpers.ACTION_CHECKBOX_NAME: [redemption.pk], "index": 0},
    )


def test_staff_mark_used_through_the_same_service_without_a_partner(client, voucher):
    assert _mark_used(client, voucher).status_code == 302
    voucher.refresh_from_db()
    assert (voucher.status, voucher.used_by_partner) == (RedemptionStatus.USED, None)


def test_staff_cannot_mark_an_expired_voucher_used(client, voucher):
    Redemption.objects.filter(pk=voucher.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    response = _mark_used(client, voucher)
    assert ERROR in [m.level for m in get_messages(response.wsgi_request)]
    voucher.refresh_from_db()
    assert voucher.status == RedemptionStatus.ISSUED
    changelist = client.get(
        reverse("admin:programs_redemption_changelist"), {"voucher_status": "expired"}
    )
    assert voucher.voucher_code in changelist.content.decode()
    assert "Abgelaufen" in changelist.content.decode()


def test_redemption_use_locks_and_rereads(voucher, partner):
    """A stale object (read before another till used the voucher) is refused, not reused."""
    stale = Redemption.objects.get(pk=voucher.pk)
    redemption_use(redemption=voucher, partner=partner)
    with pytest.raises(VoucherUsed):
        redemption_use(redemption=stale, partner=PartnerFactory())
