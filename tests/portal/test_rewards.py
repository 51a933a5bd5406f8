import pytest
from django.utils import timezone

from loyalty_site.portal.models import EmailConfirmation
from programs.models import Redemption, RedemptionStatus
from programs.services.due import points_release_due
from programs.services.ledger import Actor
from programs.services.memberships import membership_enroll
from programs.services.rewards import reward_redeem
from tests.factories import ProgramFactory, RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rich(membership, buy):
    buy(membership, "300.00", days_ago=20)
    points_release_due(timezone.now())
    membership.refresh_from_db()
    return membership


def _confirm_page(portal, reward):
    response = portal.get(f"/portal/rewards/{reward.pk}/redeem/")
    assert response.status_code == 200
    return response.context["token"]


def test_catalogue_sorts_rewards_into_now_within_reach_and_tier_locked(
    portal, rich, program, tiers
):
    RewardFactory(program=program, name="Kuchen", points_cost=250)
    RewardFactory(program=program, name="Becher", points_cost=360)  # 60 missing of 360
    RewardFactory(program=program, name="Kurs", points_cost=4000)
    RewardFactory(program=program, name="Führung", points_cost=100, min_tier=tiers["Gold"])
    shelves = portal.get("/portal/rewards/").context["shelves"]
    assert [o.reward.name for o in shelves.now] == ["Kuchen"]
    assert [(o.reward.name, o.missing) for o in shelves.within_reach] == [("Becher", 60)]
    assert [o.reward.name for o in shelves.later] == ["Kurs"]
    assert [o.reward.name for o in shelves.locked] == ["Führung"]
    html = portal.get("/portal/rewards/").content.decode()
    assert "ab Stufe Gold" in html
    assert "noch 60 Punkte" in html


def test_redeem_after_confirmation_shows_the_voucher(portal, rich, reward):
    token = _confirm_page(portal, reward)
    response = portal.post(f"/portal/rewards/{reward.pk}/redeem/", {"token": token})
    redemption = Redemption.objects.get(membership=rich)
    assert response["Location"] == f"/portal/vouchers/{redemption.pk}/"
    page = portal.get(response["Location"]).content.decode()
    assert redemption.voucher_code in page
    assert "Viel Freude mit Ihrer Prämie" in page
    rich.refresh_from_db()
    assert rich.balance == 150


def test_sending_the_confirmation_twice_redeems_once(portal, rich, reward):
    token = _confirm_page(portal, reward)
    portal.post(f"/portal/rewards/{reward.pk}/redeem/", {"token": token})
    again = portal.post(f"/portal/rewards/{reward.pk}/redeem/", {"token": token}, follow=True)
    assert Redemption.objects.filter(membership=rich).count() == 1
    assert "bereits abgeschickt" in again.content.decode()


def test_not_enough_points_is_a_message_not_an_error_page(portal, membership, reward):
    token = _confirm_page(portal, reward)
    response = portal.post(f"/portal/rewards/{reward.pk}/redeem/", {"token": token}, follow=True)
    assert response.status_code == 200
    assert "noch nicht genug Punkte" in response.content.decode()
    assert not Redemption.objects.exists()


def test_out_of_stock_is_a_message(portal, rich, program):
    gone = RewardFactory(program=program, points_cost=10, stock=0)
    token = _confirm_page(portal, gone)
    response = portal.post(f"/portal/rewards/{gone.pk}/redeem/", {"token": token}, follow=True)
    assert "leider vergriffen" in response.content.decode()


def test_unconfirmed_address_cannot_redeem(portal, rich, reward, customer):
    EmailConfirmation.objects.create(user=customer.user, email=customer.email)
    token = _confirm_page(portal, reward)
    response = portal.post(f"/portal/rewards/{reward.pk}/redeem/", {"token": token}, follow=True)
    assert "Bitte bestätigen Sie Ihre E-Mail-Adresse" in response.content.decode()
    assert not Redemption.objects.exists()


def test_reward_of_a_program_the_customer_is_not_in_is_404(portal, rich):
    foreign = RewardFactory(program=ProgramFactory(), points_cost=1)
    assert portal.get(f"/portal/rewards/{foreign.pk}/redeem/").status_code == 404
    assert portal.post(f"/portal/rewards/{foreign.pk}/redeem/", {"token": "x"}).status_code == 404


def test_cancel_an_unused_voucher_gives_the_points_back(portal, rich, reward):
    redemption = reward_redeem(membership=rich, reward=reward, actor=Actor.system())
    response = portal.post(f"/portal/vouchers/{redemption.pk}/cancel/", follow=True)
    assert "ist storniert" in response.content.decode()
    redemption.refresh_from_db()
    assert redemption.status == RedemptionStatus.CANCELLED
    rich.refresh_from_db()
    assert rich.balance == 300
    # Cancelling again is refused politely.
    again = portal.post(f"/portal/vouchers/{redemption.pk}/cancel/", follow=True)
    assert "Nur ein unbenutzter Gutschein" in again.content.decode()


def test_past_redemptions_are_listed_with_status(portal, rich, reward):
    reward_redeem(membership=rich, reward=reward, actor=Actor.system())
    html = portal.get("/portal/rewards/").content.decode()
    assert "Cappuccino" in html
    assert "einlösbar" in html


def test_others_vouchers_are_404_to_read_and_to_cancel(portal, other_membership, buy, reward):
    buy(other_membership, "300.00", days_ago=20)
    points_release_due(timezone.now())
    theirs = reward_redeem(membership=other_membership, reward=reward, actor=Actor.system())
    assert portal.get(f"/portal/vouchers/{theirs.pk}/").status_code == 404
    assert portal.post(f"/portal/vouchers/{theirs.pk}/cancel/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == RedemptionStatus.ISSUED
    assert theirs.voucher_code not in portal.get("/portal/rewards/").content.decode()


def test_redeem_uses_the_membership_of_the_rewards_program(portal, rich, customer):
    second = ProgramFactory(slug="zweites")
    membership_enroll(customer=customer, program=second)
    reward = RewardFactory(program=second, points_cost=1)
    token = _confirm_page(portal, reward)
    response = portal.post(f"/portal/rewards/{reward.pk}/redeem/", {"token": token}, follow=True)
    assert "noch nicht genug Punkte" in response.content.decode()  # 0 points there
