from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.formats import date_format

from programs.models import LedgerEntry
from programs.services.due import points_release_due
from programs.services.ledger import Actor
from programs.services.purchase_refunds import purchase_refund
from programs.services.rewards import reward_redeem

pytestmark = pytest.mark.django_db


def test_history_tells_what_each_entry_was_for(portal, membership, buy, reward):
    purchase = buy(membership, "300.00", days_ago=1, order_id="A-100")
    points_release_due(timezone.now() + timedelta(days=15))
    reward_redeem(membership=membership, reward=reward, actor=Actor.system())
    html = portal.get("/portal/history/").content.decode()
    assert "Gesammelt für Bestellung A-100" in html
    assert "Eingelöst für Cappuccino" in html
    assert "Punkte für Bestellung A-100 sind jetzt verfügbar" in html
    english = portal.get("/en/portal/history/").content.decode()
    assert "Earned for order A-100" in english
    assert "Redeemed for Cappuccino" in english
    assert purchase.pk


def test_history_filters_by_type_and_date(portal, membership, buy, reward):
    buy(membership, "300.00", days_ago=20, order_id="A-1")
    points_release_due(timezone.now())
    reward_redeem(membership=membership, reward=reward, actor=Actor.system())
    redeemed = portal.get("/portal/history/?kind=redeemed").context["lines"]
    assert [line["entry"].kind for line in redeemed] == ["redeem"]
    today = timezone.localdate()
    yesterday = (today - timedelta(days=1)).isoformat()
    # The order of 20 days ago is dated by the purchase, though it was recorded today.
    before = portal.get(f"/portal/history/?date_to={yesterday}").context["lines"]
    assert [line["entry"].kind for line in before] == ["earn"]
    since = portal.get(f"/portal/history/?date_from={today.isoformat()}").context["lines"]
    assert [line["entry"].kind for line in since] == ["redeem"]
    assert LedgerEntry.objects.count() == 2


def test_history_shows_an_order_at_its_purchase_date(portal, membership, buy):
    buy(membership, "10.00", days_ago=2, order_id="NEW-1")
    buy(membership, "20.00", days_ago=40, order_id="OLD-1")  # reported after NEW-1
    lines = portal.get("/portal/history/").context["lines"]
    assert [line["entry"].purchase.order_id for line in lines] == ["NEW-1", "OLD-1"]
    html = portal.get("/portal/history/").content.decode()
    forty_days_ago = timezone.localtime(timezone.now() - timedelta(days=40, minutes=1))
    assert date_format(forty_days_ago, "DATE_FORMAT") in html
    assert date_format(timezone.localtime(), "DATE_FORMAT") not in html  # recorded, not shown


def test_invalid_filters_show_errors_not_a_crash(portal, membership):
    response = portal.get("/portal/history/?date_from=2026-05-01&date_to=2026-04-01&kind=zzz")
    assert response.status_code == 200
    assert "Das Anfangsdatum muss vor dem Enddatum liegen." in response.content.decode() or (
        response.context["form"].errors
    )
    assert portal.get("/portal/history/?page=999").status_code == 200


def test_history_is_paginated_with_bounded_queries(
    portal, membership, buy, django_assert_max_num_queries
):
    for n in range(60):
        buy(membership, "5.00", days_ago=30 + n, order_id=f"P-{n}")
    with django_assert_max_num_queries(8):
        first = portal.get("/portal/history/")
    assert len(first.context["lines"]) == 25
    assert first.context["page"].paginator.num_pages == 3
    with django_assert_max_num_queries(8):
        last = portal.get("/portal/history/?page=3")
    assert len(last.context["lines"]) == 10
    assert "Seite 3 von 3" in last.content.decode()


def test_returns_read_as_returns(portal, membership, buy):
    purchase = buy(membership, "100.00", days_ago=1, order_id="R-7")
    purchase_refund(
        purchase=purchase, refund_id="ret-1", amount=purchase.amount, actor=Actor.system()
    )
    lines = portal.get("/portal/history/?kind=returned").context["lines"]
    assert [line["text"] for line in lines] == ["Rückgabe: Bestellung R-7"]
