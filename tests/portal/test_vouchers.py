"""The member's vouchers in the portal: QR code, status and "gültig bis" on the voucher
page, the list on the rewards page, and what an expired voucher still allows."""

import re
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from programs.models import Redemption, RedemptionStatus
from programs.services.due import points_release_due
from programs.services.ledger import Actor
from programs.services.rewards import redemption_cancel, redemption_mark_used, reward_redeem
from tests.factories import RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rich(membership, buy):
    buy(membership, "300.00", days_ago=20)
    points_release_due(timezone.now())
    membership.refresh_from_db()
    return membership


@pytest.fixture
def voucher(rich, program):
    reward = RewardFactory(
        program=program, name="Cappuccino", points_cost=150, voucher_valid_days=30
    )
    redeemed = datetime(2026, 11, 20, 10, 0, tzinfo=timezone.get_default_timezone())
    return reward_redeem(membership=rich, reward=reward, actor=Actor.system(), at=redeemed)


def page(portal, redemption) -> str:
    response = portal.get(f"/portal/vouchers/{redemption.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def expire(redemption):
    Redemption.objects.filter(pk=redemption.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def test_a_usable_voucher_shows_its_qr_code_status_and_valid_until(portal, voucher):
    html = page(portal, voucher)
    qr = re.search(r'<div class="voucher-qr" data-testid="voucher-qr">(.*?)</div>', html, re.S)
    assert qr is not None
    assert qr.group(1).startswith('<svg role="img"')
    assert "<title>QR-Code Ihres Gutscheins</title>" in qr.group(1)
    assert voucher.voucher_code in html
    assert "einlösbar" in html
    assert "Gültig bis" in html
    assert "20. Dezember 2026" in html  # 30 days after 20 November, to the end of the day
    assert "Erhalten am" in html
    assert "Eingelöst am" not in html  # it was redeemed for points, not used yet
    assert "Gutschein stornieren" in html


def test_a_voucher_without_expiry_is_unbefristet(portal, rich, program):
    reward = RewardFactory(program=program, points_cost=10)
    redemption = reward_redeem(membership=rich, reward=reward, actor=Actor.system())
    html = page(portal, redemption)
    assert re.search(r'data-testid="valid-until">unbefristet<', html)


def test_a_used_voucher_says_when_and_shows_no_qr_code(portal, voucher):
    used_at = datetime(2026, 11, 25, 9, 30, tzinfo=timezone.get_default_timezone())
    redemption_mark_used(redemption=voucher, at=used_at)
    html = page(portal, voucher)
    assert "eingelöst am 25.11.2026" in html
    assert 'data-testid="voucher-qr"' not in html
    assert "Gutschein stornieren" not in html


def test_an_expired_voucher_reads_abgelaufen_and_gives_no_points_back(portal, voucher, rich):
    expire(voucher)
    html = page(portal, voucher)
    assert "abgelaufen" in html
    assert "einlösbar" not in html
    assert 'data-testid="voucher-qr"' not in html
    assert "Gutschein stornieren" not in html
    rich.refresh_from_db()
    balance = rich.balance
    refused = portal.post(f"/portal/vouchers/{voucher.pk}/cancel/", follow=True)
    assert "abgelaufen" in refused.content.decode()
    voucher.refresh_from_db()
    rich.refresh_from_db()
    assert voucher.status == RedemptionStatus.ISSUED
    assert rich.balance == balance


def test_a_cancelled_voucher_reads_storniert(portal, voucher):
    redemption_cancel(redemption=voucher, actor=Actor.system())
    html = page(portal, voucher)
    assert "storniert" in html
    assert 'data-testid="voucher-qr"' not in html


def test_the_list_shows_each_vouchers_status_and_valid_until(portal, voucher, rich, program):
    forever = RewardFactory(program=program, name="Kuchen", points_cost=10)
    lapsed = reward_redeem(membership=rich, reward=forever, actor=Actor.system())
    expire(lapsed)
    html = portal.get("/portal/rewards/").content.decode()
    assert "erhalten am 20.11.2026, gültig bis 20.12.2026" in html
    assert "einlösbar" in html
    assert "abgelaufen" in html
    assert 'class="table-wrap"' not in html.split('id="h-vouchers"')[1]  # a list, no table


def test_the_voucher_page_in_english(portal, voucher):
    html = portal.get(f"/en/portal/vouchers/{voucher.pk}/").content.decode()
    assert "ready to use" in html
    assert "Valid until" in html
    assert "Received on" in html
