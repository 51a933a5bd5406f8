"""The portal's navigation (a tab bar of the five main pages on phones, every page from
48rem) and the compact dashboard: each notification one line, linked to the notifications
page, which has its own heading."""

import re

import pytest
from django.utils import timezone

from programs.notifications.models import Notification

pytestmark = pytest.mark.django_db

PARAMS = {"reward": "Cappuccino", "points": 150, "voucher_code": "ABCD-EFGH-JKMN"}


def _tabs(html: str) -> list[tuple[str, str]]:
    nav = re.search(r'<nav class="portal-tabs".*?</nav>', html, re.S).group(0)
    return re.findall(r'<li class="(tab-\w+)[^"]*"><a href="([^"]+)"', nav)


def test_five_main_tabs_and_two_more_links(portal, membership):
    html = portal.get("/portal/").content.decode()
    assert _tabs(html) == [
        ("tab-main", "/portal/"),
        ("tab-more", "/portal/history/"),
        ("tab-main", "/portal/rewards/"),
        ("tab-main", "/portal/card/"),
        ("tab-main", "/portal/referrals/"),
        ("tab-more", "/portal/notifications/"),
        ("tab-main", "/portal/profile/"),
    ]
    assert '<a href="/portal/" aria-current="page">' in html
    # on phones the history and notifications are reached from the overview
    main = html.split("</nav>", 1)[1]
    assert 'href="/portal/history/"' in main
    assert 'href="/portal/notifications/"' in main


def test_the_current_page_is_marked(portal, membership):
    html = portal.get("/portal/referrals/").content.decode()
    assert '<a href="/portal/referrals/" aria-current="page">' in html
    assert html.count('aria-current="page"') == 1


def test_the_dashboard_shows_notification_titles_not_texts(portal, customer, membership):
    notes = [
        Notification.objects.create(
            customer=customer,
            membership=membership,
            kind="reward_redeemed",
            cause_key=f"t:{n}",
            params={**PARAMS, "reward": f"Prämie {n}"},
            created_at=timezone.now(),
        )
        for n in range(5)
    ]
    html = portal.get("/portal/").content.decode()
    section = re.search(r'data-testid="notification-lines".*?</section>', html, re.S).group(0)
    assert section.count("<li") == 3  # the newest three
    assert "Ihre Prämie: Prämie 4" in section
    assert "Ihr Gutscheincode lautet" not in section  # the body stays on the notifications page
    assert f'href="/portal/notifications/#n-{notes[4].pk}"' in section
    page = portal.get("/portal/notifications/").content.decode()
    assert "<h1>Benachrichtigungen</h1>" in page
    assert f'id="n-{notes[4].pk}"' in page
    assert "Ihr Gutscheincode lautet ABCD-EFGH-JKMN." in page
