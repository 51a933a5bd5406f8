"""The admin home starts with the day's work: what waits for staff, each count linking to
the list of exactly those rows, and the programs' key figures, in German."""

import re

import pytest
from django.urls import reverse

from programs.models import Membership, ReferralStatus, TransferStatus
from programs.services.postings import Actor
from programs.services.referrals import referral_approve
from programs.services.transfers import transfer_create
from tests.loyalty_site.admin_world import admin_world
from tests.loyalty_site.test_admin_german import visible
from tests.programs.bookkeeping import program_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    return admin_world()


@pytest.fixture
def staff_client(client, world):
    client.force_login(world.staff)
    return client


def _work(client) -> dict[str, tuple[int, str]]:
    """label -> (count, link) as the home page shows them."""
    html = client.get(reverse("admin:index")).content.decode()
    items = re.findall(
        r'<a href="([^"]+)"><span class="work-count">([\d.]+)</span>\s*'
        r'<span class="work-label">([^<]+)</span></a>',
        html,
    )
    return {
        label: (int(count.replace(".", "")), url.replace("&amp;", "&"))
        for url, count, label in items
    }


def test_the_home_page_counts_what_waits_and_links_to_it(staff_client, world):
    work = _work(staff_client)
    # The world: Berta and Clara signed up on Anna's device (2 held for review); Emil asked
    # to be deleted (1); the outbox gave up on 1 delivery; order-3 failed (1).
    assert {label: count for label, (count, _url) in work.items()} == {
        "Empfehlungen zur Prüfung": 2,
        "Punkteübertragungen zur Prüfung": 0,
        "Offene Löschanträge": 1,
        "Fehlgeschlagene Webhook-Zustellungen": 1,
        "Fehlgeschlagene Einkäufe (Punkte nicht gutgeschrieben)": 1,
    }
    shown = {}
    for label, (_count, url) in work.items():
        response = staff_client.get(url)
        assert response.status_code == 200, url
        shown[label] = sorted(str(row) for row in response.context["cl"].result_list)
    assert shown["Empfehlungen zur Prüfung"] == sorted(str(r) for r in world.in_review)
    assert shown["Punkteübertragungen zur Prüfung"] == []
    assert shown["Offene Löschanträge"] == [str(world.leaving)]
    assert shown["Fehlgeschlagene Webhook-Zustellungen"] == [str(world.failed_delivery)]
    assert shown["Fehlgeschlagene Einkäufe (Punkte nicht gutgeschrieben)"] == [str(world.failed)]


def test_a_transfer_waiting_for_review_is_counted_and_listed(staff_client, world):
    program = world.anna.program
    program_set(program, transfers_enabled=True, transfer_min_age_days=0, transfer_review_above=10)
    dora = Membership.objects.get(program=program, customer__first_name="Dora")
    transfer, _ = transfer_create(
        sender=world.anna, recipient=dora, points=50, key="t-1", actor=Actor.system()
    )
    assert transfer.status == TransferStatus.REVIEW

    count, url = _work(staff_client)["Punkteübertragungen zur Prüfung"]
    assert count == 1
    listed = staff_client.get(url).context["cl"].result_list
    assert [t.pk for t in listed] == [transfer.pk]


def test_a_settled_review_leaves_the_count(staff_client, world):
    approved = referral_approve(referral=world.in_review[0], user=world.staff)
    assert approved.status != ReferralStatus.REVIEW
    assert _work(staff_client)["Empfehlungen zur Prüfung"][0] == 1  # 2 - 1 approved


def test_the_home_page_shows_the_programs_key_figures(staff_client, world):
    text = visible(staff_client.get(reverse("admin:index")).content.decode()).text
    assert "Programme auf einen Blick" in text
    # Kaffeeclub: Anna, Berta, Clara, Dora active = 4 members.
    # Anna: 30 (order-1) - 5 (refund of 5.00) + 100 (Kulanz) - 10 (Cappuccino)
    #       + 500 (Dora referred) = 615; Dora: 200 (welcome bonus) + 25 (order-2) = 225;
    # outstanding 615 + 225 = 840, nothing pending (no return window).
    assert "Kaffeeclub 4 840 0" in text
    assert "Teeclub 0 0 0" in text  # active, nobody joined yet
