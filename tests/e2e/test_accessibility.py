"""Every portal page at 375 and 1280 px, and the main admin pages, in one pass each: axe-core
finds no serious or critical violation, nothing scrolls sideways and no text is cut off.
A screenshot of each page at each width goes to e2e-artifacts/ (<width>-<page>.png).

One member whose pages show every part: a friend invited her (her welcome bonus is
credited), she invited four friends (signed up, purchased with the reward expected,
rewarded, refused), holds a usable, a used and a cancelled voucher, and has notifications.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from customers.services import customer_create
from loyalty_site.core.email_links import unsubscribe_token
from programs.models import AccountKind, AccountRole
from programs.services.account_invitations import account_invite
from programs.services.accounts import account_create, account_member_add
from programs.services.due import points_release_due
from programs.services.ledger import Actor
from programs.services.memberships import membership_enroll
from programs.services.partner_members import partner_member_upsert
from programs.services.purchases import purchase_record
from programs.services.referrals import referral_register, referral_reject, referral_release
from programs.services.rewards import redemption_cancel, redemption_mark_used, reward_redeem
from surveys.models import Channel, SurveyKind
from surveys.services.invitations import invitation_create
from surveys.services.surveys import survey_create
from surveys.tokens import invitation_token
from tests.e2e.accessibility import ARTIFACTS, page_problems
from tests.factories import (
    PartnerFactory,
    ProgramFactory,
    RewardFactory,
    StaffFactory,
    UserFactory,
    standard_tiers,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _screenshot(page, path) -> None:
    """The whole page, with the phone's fixed tab bar where it sits once the page is
    scrolled to its end (a full-page screenshot would paint it over the middle): the
    viewport is made as tall as the page for the picture."""
    size = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(height, size["height"])})
    page.screenshot(path=str(path))
    page.set_viewport_size(size)


def _member(email: str, first_name: str, last_name: str, program):
    user = UserFactory(username=email, email=email)
    customer = customer_create(email=email, first_name=first_name, last_name=last_name, user=user)
    return membership_enroll(customer=customer, program=program)[0]


@pytest.fixture
def world(settings):
    settings.LANGUAGE_CODE = "de"
    now = timezone.now()
    program = ProgramFactory(name="Kaffeerösterei Müller", slug="kaffee", pending_days=14)
    tiers = standard_tiers(program)
    partner = PartnerFactory(programs=[program])
    orders = iter(range(1000, 2000))

    def buy(membership, amount: str, days_ago: int):
        purchase_record(
            partner=partner,
            membership=membership,
            order_id=f"W-{next(orders)}",
            amount=Decimal(amount),
            currency="EUR",
            occurred_at=now - timedelta(days=days_ago),
            award_now=True,
        )

    bernd = _member("bernd@example.com", "Bernd", "Brandt", program)
    anna = _member("anna@example.com", "Anna", "Schmidt", program)
    referral_register(referral_code=bernd.referral_code, referee=anna)
    buy(anna, "1380.00", days_ago=40)
    buy(anna, "64.50", days_ago=3)
    friends = {
        name: _member(f"{name.lower()}@example.com", name, "Neumann", program)
        for name in ("Clara", "Dora", "Emil", "Fritz")
    }
    for friend in friends.values():
        referral_register(referral_code=anna.referral_code, referee=friend)
    buy(friends["Dora"], "35.00", days_ago=2)  # reward expected in 12 days
    buy(friends["Emil"], "80.00", days_ago=30)
    points_release_due(now)
    emil = anna.referrals_made.get(referee=friends["Emil"])
    referral_release(emil.pk, now=now)
    fritz = anna.referrals_made.get(referee=friends["Fritz"])
    referral_reject(referral=fritz, user=StaffFactory(), reason="friend_not_new")

    anna.refresh_from_db()
    cappuccino = RewardFactory(
        program=program, name="Cappuccino", points_cost=150, voucher_valid_days=30
    )
    RewardFactory(program=program, name="Röstereiführung", points_cost=900, min_tier=tiers["Gold"])
    RewardFactory(program=program, name="Espressomaschine für zu Hause", points_cost=25000)
    system = Actor.system()
    used = reward_redeem(membership=anna, reward=cappuccino, actor=system)
    redemption_mark_used(redemption=used)
    cancelled = reward_redeem(membership=anna, reward=cappuccino, actor=system)
    redemption_cancel(redemption=cancelled, actor=system)
    voucher = reward_redeem(membership=anna, reward=cappuccino, actor=system)
    # A partner gave Anna's address for one of its customers: she is asked to confirm.
    partner_member_upsert(
        partner=partner,
        external_id="k-7",
        fields={"email": "anna@example.com"},
        programs=[program],
    )
    # Bernd owns a business account: Emil buys for it, Clara is invited.
    business = account_create(
        program=program, kind=AccountKind.BUSINESS, name="Brandt & Söhne GmbH", manager=bernd
    )
    emil_row = account_member_add(
        account=business, membership=friends["Emil"], role=AccountRole.BUYER, monthly_limit=500
    )
    friends["Emil"].refresh_from_db()
    buy(friends["Emil"], "120.00", days_ago=1)
    account_invitation, _token = account_invite(
        account=business, email="clara@example.com", role=AccountRole.VIEWER, invited_by=bernd
    )
    survey = survey_create(program=program, kind=SurveyKind.NPS, name="NPS")
    invitation = invitation_create(survey=survey, membership=anna, channel=Channel.STAFF)
    return {
        "program": program,
        "anna": anna,
        "bernd": bernd,
        "clara": friends["Clara"],
        "account_member": emil_row,
        "account_invitation": account_invitation,
        "voucher": voucher,
        "reward": cappuccino,
        "survey": reverse("surveys:answer", kwargs={"token": invitation_token(invitation.pk)}),
        "unsubscribe": reverse(
            "portal:unsubscribe",
            args=[unsubscribe_token(customer_id=anna.customer_id, topic="email_rewards")],
        ),
    }


def _signed_in(browser, user, width: int, base: str):
    """A browser context at ``width`` with ``user``'s session (made by the test client)."""
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="de-DE")
    context.set_default_timeout(15_000)
    context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                "url": base,
            }
        ]
    )
    return context


def _walk(
    context, base: str, pages: list[tuple[str, str]], width: int, *, layout: bool = True
) -> dict[str, list]:
    """Open each page, check it (axe, and the layout unless ``layout`` is off) and save its
    screenshot; the problems found, by page."""
    ARTIFACTS.mkdir(exist_ok=True)
    page = context.new_page()
    found = {}
    for name, path in pages:
        page.goto(f"{base}{path}")
        page.wait_for_load_state("load")
        if problems := page_problems(page, layout=layout):
            found[f"{name} ({path})"] = problems
        _screenshot(page, ARTIFACTS / f"{width}-{name}.png")
    return found


def _navigation(page, base: str) -> dict:
    """Where the portal navigation sits on the overview, and which links show."""
    page.goto(f"{base}/portal/")
    tabs = page.locator("nav.portal-tabs")
    box = tabs.bounding_box()
    return {
        "position": tabs.evaluate("el => getComputedStyle(el).position"),
        "bottom": round(box["y"] + box["height"]) if box else None,
        "links": [
            link.inner_text().strip()
            for link in tabs.get_by_role("link").all()
            if link.is_visible()
        ],
    }


@pytest.mark.parametrize("width", [375, 1280])
def test_every_portal_page_passes_axe_and_fits(browser, live_server, world, width):
    base = live_server.url
    voucher, program = world["voucher"], world["program"]
    anna = world["anna"]
    public = _walk(
        browser.new_context(viewport={"width": width, "height": 900}, locale="de-DE"),
        base,
        [
            ("login", "/portal/login/"),
            ("signup", f"/portal/join/{program.slug}/"),
            ("signup-referral", f"/portal/join/{program.slug}/?ref={anna.referral_code}"),
            ("password-reset", "/portal/password/"),
            ("password-reset-sent", "/portal/password/sent/"),
            ("confirm-invalid", "/portal/confirm/not-a-token/"),
            ("referral-invalid", "/r/NO-SUCH-CODE/"),
            ("unsubscribe", world["unsubscribe"]),
            ("survey", world["survey"]),
        ],
        width,
    )
    context = _signed_in(browser, anna.customer.user, width, base)
    signed_in = _walk(
        context,
        base,
        [
            ("dashboard", "/portal/"),
            ("history", "/portal/history/"),
            ("card", "/portal/card/"),
            ("rewards", "/portal/rewards/"),
            ("redeem-confirm", f"/portal/rewards/{world['reward'].pk}/redeem/"),
            ("voucher", f"/portal/vouchers/{voucher.pk}/"),
            ("voucher-cancel", f"/portal/vouchers/{voucher.pk}/cancel/"),
            ("referrals", "/portal/referrals/"),
            ("notifications", "/portal/notifications/"),
            ("profile", "/portal/profile/"),
            ("links", "/portal/links/"),
            ("dashboard-english", "/en/portal/"),
        ],
        width,
    )
    nav = _navigation(context.pages[0], base)
    context.close()
    # The shared account: its owner's pages, and an invited customer's.
    owner = _signed_in(browser, world["bernd"].customer.user, width, base)
    shared = _walk(
        owner,
        base,
        [
            ("shared-account", "/portal/shared-account/"),
            (
                "shared-account-member",
                f"/portal/shared-account/members/{world['account_member'].pk}/",
            ),
            ("shared-account-leave", "/portal/shared-account/leave/"),
            ("give-points", "/portal/give-points/"),
            ("rewards-from-account", "/portal/rewards/?from=account"),
        ],
        width,
    )
    owner.close()
    invited = _signed_in(browser, world["clara"].customer.user, width, base)
    shared |= _walk(
        invited,
        base,
        [
            (
                "shared-account-invitation",
                f"/portal/shared-account/invitations/{world['account_invitation'].pk}/",
            ),
        ],
        width,
    )
    invited.close()
    if width == 375:  # a tab bar of the five main pages, fixed to the bottom of the screen
        assert nav == {
            "position": "fixed",
            "bottom": 900,
            "links": ["Übersicht", "Prämien", "Meine Karte", "Freunde", "Profil"],
        }
    else:  # every page in a row at the top
        assert nav["position"] == "static"
        assert nav["links"] == [
            "Übersicht",
            "Verlauf",
            "Prämien",
            "Meine Karte",
            "Freunde",
            "Benachrichtigungen",
            "Profil",
        ]
    problems = public | signed_in | shared
    assert not problems, "\n".join(
        f"{page}:\n  " + "\n  ".join(lines) for page, lines in problems.items()
    )


@pytest.mark.parametrize("width", [375, 1280])
def test_main_admin_pages_pass_axe(browser, live_server, world, width):
    base = live_server.url
    anna = world["anna"]
    staff = StaffFactory(username="chef")
    context = _signed_in(browser, staff, width, base)
    problems = _walk(
        context,
        base,
        [
            ("admin-home", "/admin/"),
            ("admin-customer", f"/admin/customers/customer/{anna.customer_id}/change/"),
            ("admin-membership", f"/admin/programs/membership/{anna.pk}/change/"),
        ],
        width,
        # At 1280 px the pages fit; on a phone Django's admin lays out wider than the screen
        # (axe only there).
        layout=width == 1280,
    )
    context.close()
    assert not problems, "\n".join(
        f"{page}:\n  " + "\n  ".join(lines) for page, lines in problems.items()
    )
