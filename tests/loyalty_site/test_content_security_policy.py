"""Content-Security-Policy (django-csp) on portal, admin, survey and API docs pages.

The header must state a policy without 'unsafe-inline' or 'unsafe-eval', and the markup
the pages send must keep to it: no inline script or style without the response's nonce, no
style attributes, no inline event handlers, no javascript: links. (A browser enforcing the
policy is in tests/e2e/test_content_security_policy.py.)"""

import re
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from customers.services import customer_create
from programs.models import ActionRule
from programs.services.memberships import membership_enroll
from programs.services.purchases import purchase_record
from surveys.models import Channel, SurveyKind
from surveys.services.invitations import invitation_create
from surveys.services.responses import response_submit
from surveys.services.snapshots import snapshots_build
from surveys.services.surveys import survey_create
from surveys.tokens import invitation_path
from tests.factories import (
    PartnerFactory,
    ProgramFactory,
    RewardFactory,
    StaffFactory,
    UserFactory,
    standard_tiers,
)

pytestmark = pytest.mark.django_db

HEADER = "Content-Security-Policy"
PORTAL_PAGES = [
    "/portal/",
    "/portal/history/",
    "/portal/rewards/",
    "/portal/referrals/",
    "/portal/notifications/",
    "/portal/profile/",
    "/en/portal/",
]
PUBLIC_PAGES = ["/", "/portal/login/", "/portal/password/", "/portal/password/sent/"]
DASHBOARD = "/admin/surveys/metricsdashboard/"


def policy(response) -> dict[str, list[str]]:
    assert HEADER in response, f"no {HEADER} on {response.request['PATH_INFO']}"
    directives = {}
    for part in response[HEADER].split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def nonce_of(directives: dict[str, list[str]], name: str) -> str | None:
    found = [s[len("'nonce-") : -1] for s in directives[name] if s.startswith("'nonce-")]
    return found[0] if found else None


class InlineCode(HTMLParser):
    """Collects what a policy without 'unsafe-inline' would block in a page's markup."""

    def __init__(self, nonce: str | None):
        super().__init__()
        self.nonce = nonce
        self.blocked: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name == "style":
                self.blocked.append(f'<{tag} style="{value}">')
            if name.startswith("on"):
                self.blocked.append(f'<{tag} {name}="{value}">')
            if name in {"href", "src", "action"} and (value or "").lower().startswith(
                "javascript:"
            ):
                self.blocked.append(f'<{tag} {name}="{value}">')
        inline_script = tag == "script" and "src" not in attributes
        executable = attributes.get("type") in {None, "", "text/javascript", "module"}
        inline = (inline_script and executable) or tag == "style"
        if inline and (self.nonce is None or attributes.get("nonce") != self.nonce):
            self.blocked.append(f"<{tag}> without the response's nonce")


def assert_keeps_to_policy(response, status: int = 200):
    assert response.status_code == status, response.request["PATH_INFO"]
    directives = policy(response)
    parser = InlineCode(nonce_of(directives, "script-src"))
    parser.feed(response.content.decode())
    assert parser.blocked == [], response.request["PATH_INFO"]


def assert_strict(directives: dict[str, list[str]]):
    assert directives["default-src"] == ["'self'"]
    for name in ("script-src", "style-src"):
        assert "'self'" in directives[name]
        assert "'unsafe-inline'" not in directives[name]
        assert "'unsafe-eval'" not in directives[name]
        assert not any(s == "*" or s.startswith(("http:", "https:")) for s in directives[name])
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["form-action"] == ["'self'"]


@pytest.fixture
def member(db):
    program = ProgramFactory(name="Kaffeerösterei", slug="kaffee")
    standard_tiers(program)
    partner = PartnerFactory(programs=[program])
    user = UserFactory(username="anna@example.com", email="anna@example.com")
    anna = customer_create(email="anna@example.com", first_name="Anna", last_name="S", user=user)
    membership, _ = membership_enroll(customer=anna, program=program)
    purchase_record(
        partner=partner,
        membership=membership,
        order_id="W-1",
        amount=Decimal("480.00"),
        currency="EUR",
        occurred_at=timezone.now() - timedelta(days=2),
        award_now=True,
    )
    RewardFactory(program=program, name="Cappuccino", points_cost=150)
    return membership


@pytest.fixture
def nps_invitation(member):
    rule = ActionRule.objects.create(
        program=member.program, code="survey_answered", name="Umfrage beantwortet", points=50
    )
    survey = survey_create(
        program=member.program, kind=SurveyKind.NPS, name="NPS", action_rule=rule
    )
    return invitation_create(survey=survey, membership=member, channel=Channel.STAFF)


@pytest.fixture
def staff(client, db):
    client.force_login(StaffFactory(username="staff"))
    return client


@pytest.mark.parametrize("path", PUBLIC_PAGES)
def test_public_pages_send_a_strict_policy_and_keep_to_it(client, db, path):
    response = client.get(path)
    assert_strict(policy(response))
    assert_keeps_to_policy(response)


@pytest.mark.parametrize("path", PORTAL_PAGES)
def test_portal_pages_send_a_strict_policy_and_keep_to_it(client, member, path):
    client.force_login(member.customer.user)
    response = client.get(path)
    directives = policy(response)
    assert_strict(directives)
    assert directives["img-src"] == ["'self'"]
    assert_keeps_to_policy(response)


def test_the_lockout_page_keeps_to_the_policy(client, member, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        response = client.post("/portal/login/", {"username": "anna@example.com", "password": "x"})
    assert_strict(policy(response))
    assert_keeps_to_policy(response, status=429)


def test_survey_pages_keep_to_the_policy(client, nps_invitation):
    path = invitation_path(nps_invitation)
    assert_keeps_to_policy(client.get(path))
    thanks = client.post(path, {"recommend": "9", "send": "1"}, follow=True)
    assert thanks.redirect_chain
    assert_keeps_to_policy(thanks)
    assert_keeps_to_policy(client.get(path), status=410)  # the used link


def test_admin_pages_send_a_strict_policy_and_keep_to_it(staff, member):
    login = staff.get("/admin/login/")
    assert_strict(policy(login))
    index = staff.get("/admin/")
    assert_strict(policy(index))
    assert_keeps_to_policy(index)
    # Every list and add page linked from the index, and one change form per list.
    links = sorted(
        set(re.findall(r'href="(/admin/[a-z_]+/[a-z_]+/(?:add/)?)"', index.content.decode()))
    )
    assert len(links) > 10
    for link in links:
        page = staff.get(link)
        assert_keeps_to_policy(page)
        change = re.search(
            r'href="(' + re.escape(link) + r'\d+/change/[^"]*)"', page.content.decode()
        )
        if change:
            assert_keeps_to_policy(staff.get(change.group(1)))


def test_the_metrics_dashboard_draws_its_charts_within_the_policy(staff, member, nps_invitation):
    response_submit(invitation_id=nps_invitation.pk, answers={"recommend": 9})
    snapshots_build(months=None)
    response = staff.get(DASHBOARD + "?months=36")
    html = response.content.decode()
    assert html.count('class="chart"') == 7  # with retention per period (issue 17)
    assert "surveys/dashboard.css" in html
    assert_strict(policy(response))
    assert_keeps_to_policy(response)


def test_api_docs_run_swagger_ui_under_the_policy_with_its_nonce(client, db):
    response = client.get("/api/docs/")
    directives = policy(response)
    assert_strict(directives)
    # Swagger UI's stylesheet draws icons as data: images; only this page allows them.
    assert directives["img-src"] == ["'self'", "data:"]
    nonce = nonce_of(directives, "script-src")
    assert nonce
    assert nonce == nonce_of(directives, "style-src")
    html = response.content.decode()
    assert f'<script nonce="{nonce}">' in html
    assert f'<style nonce="{nonce}">' in html
    assert "SwaggerUIBundle(" in html
    # Every script and stylesheet it loads comes from this site.
    for url in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not urlsplit(url).netloc, url
    assert_keeps_to_policy(response)


def test_each_response_gets_a_fresh_nonce(client, db):
    first = nonce_of(policy(client.get("/api/docs/")), "script-src")
    second = nonce_of(policy(client.get("/api/docs/")), "script-src")
    assert first != second
