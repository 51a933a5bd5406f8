"""A German member of staff reads German in the admin: every changelist and change page,
walked as a superuser over a small data set, shows none of the English words found there
before, no "None" in a cell and no risk reasons as raw JSON."""

import re
from html.parser import HTMLParser

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse

from tests.loyalty_site.admin_world import admin_world

pytestmark = pytest.mark.django_db

# English once seen on these pages: column headers and field labels, filters, buttons, the
# customer admin's strings, stored codes and system reasons (matched as whole words).
ENGLISH = [
    "Referrer",
    "Referee",
    "Qualifying purchase",
    "Reviewed by",
    "Program",
    "Nach program",
    "Membership",
    "Reward",
    "Action event",
    "Actor partner",
    "Actor user",
    "Lot",
    "Customers",
    "Normalised e-mail",
    "Lower-case",
    "Preferences",
    "Date of birth",
    "Account",
    "Portal login",
    "Deletion requested",
    "Nach deletion requested",
    "Anonymised",
    "E-mail or name",
    "Enroll in a program",
    "Delete personal data",
    "same_device",
    "friend referred",
    "welcome bonus",
    "membership not active",
    "order order-1",
    "of order",
]


class VisibleText(HTMLParser):
    """The text a reader sees: text nodes outside script and style, button labels, and
    each table cell and read-only value on its own (to spot one that says "None")."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.cells: list[str] = []
        self._skip = 0
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("td", "th") or (tag == "div" and dict(attrs).get("class") == "readonly"):
            self._cell = []
        elif tag == "input" and dict(attrs).get("type") == "submit":
            self.parts.append(dict(attrs).get("value") or "")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1
        elif tag in ("td", "th", "div") and self._cell is not None:
            self.cells.append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._skip:
            return
        self.parts.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())


def _says(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def visible(html: str) -> VisibleText:
    parser = VisibleText()
    parser.feed(html)
    return parser


def admin_pages() -> list[str]:
    """Every registered admin's changelist and the change page of its first row."""
    urls = [reverse("admin:index")]
    for model, model_admin in admin.site._registry.items():
        info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
        try:
            urls.append(reverse(f"{info}_changelist"))
        except NoReverseMatch:
            continue
        first = model_admin.get_queryset(_NoRequest).order_by("pk").first()
        if first is not None:
            urls.append(reverse(f"{info}_change", args=[first.pk]))
    return urls


class _NoRequest:
    """get_queryset() of these admins reads nothing from the request."""


@pytest.fixture
def world(db):
    return admin_world()


@pytest.fixture
def staff_client(client, world):
    client.force_login(world.staff)
    return client


def test_the_admin_pages_speak_german(staff_client, world):
    problems = []
    urls = admin_pages()
    urls.append(reverse("admin:programs_referral_changelist"))  # the review queue
    for url in urls:
        response = staff_client.get(url, HTTP_ACCEPT_LANGUAGE="de")
        assert response.status_code == 200, url
        page = visible(response.content.decode())
        problems += [f"{url}: {phrase!r}" for phrase in ENGLISH if _says(page.text, phrase)]
        problems += [f"{url}: a value says None" for value in page.cells if value == "None"]
        if re.search(r'\[\s*"', page.text):
            problems.append(f"{url}: raw JSON list")
    assert problems == [], "\n".join(problems)
