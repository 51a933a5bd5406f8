"""In a real browser, at phone and desktop width: a staff member in the role
Programm-Management signs in with a second factor, goes to the imports, uploads a German
members file (``;`` separator, thousands with a dot, Windows-1252, one row whose first
name is a spreadsheet formula), reads the dry run with the bad row's line and column,
confirms, and after the import sees it done and the members imported.

There is no worker here: the import is written by ``import_commit``, as the worker does
(with the tests' eager Celery the confirmation may already have run it; then it is a
no-op). The dry-run page is checked as every page is (tests/e2e/accessibility.py)."""

import re
import time
from importlib import import_module

import pytest
from django.contrib.auth.models import Group, Permission
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from customers.models import Customer
from programs.imports.commits import import_commit
from programs.models import ImportJob, ImportStatus, Membership, PartnerCustomer
from tests.e2e.accessibility import ARTIFACTS, page_problems
from tests.factories import PartnerFactory, ProgramFactory, UserFactory, standard_tiers

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-tests"
FILE = (
    "Kundennummer;E-Mail;Vorname;Nachname;Newsletter;Stufe;Punktestand;Gesammelt am\n"
    "A-100;joerg.weiss@example.org;Jörg;Weiß;ja;Gold;1.500;01.03.2025\n"
    "A-101;;Änne;Straßburger;nein;;250;\n"
    '"A-102";;"=HYPERLINK(""http://evil.example"";""klick"")";Böse;;;10;\n'
    "A-103;carla@example.org;Carla;Groß;;Silber;12.345;15.01.2024\n"
).encode("cp1252")
IMPORTED = {"A-100": 1500, "A-101": 250, "A-103": 12345}


def program_manager():
    """A staff member in the role Programm-Management with an authenticator app. A live
    server's test flushes the tables afterwards, so the group the roles migrations created
    may be gone: it is made here with the rights those migrations give it."""
    roles = import_module("loyalty_site.migrations.0001_staff_roles")
    imports = import_module("loyalty_site.migrations.0003_import_roles")
    group, _ = Group.objects.get_or_create(name="Programm-Management")
    for rights in (roles.ROLES["Programm-Management"], imports.RIGHTS["Programm-Management"]):
        group.permissions.add(*roles.role_permissions(Permission, rights))
    user = UserFactory(username="planerin", is_staff=True)
    user.groups.add(group)
    TOTPDevice.objects.create(user=user, name="Telefon", confirmed=True)
    return user


def code_of(device: TOTPDevice) -> str:
    """The code the staff member's authenticator app shows now."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():0{device.digits}d}"


@pytest.fixture
def world(settings):
    settings.LANGUAGE_CODE = "de"
    settings.STAFF_2FA_REQUIRED = True
    program = ProgramFactory(name="Kaffeerösterei")
    standard_tiers(program)
    partner = PartnerFactory(name="Altes Kassensystem", programs=[program])
    return {"program": program, "partner": partner, "staff": program_manager()}


@pytest.fixture(params=[375, 1280], ids=["phone", "desktop"])
def browser_page(request, browser):
    width = request.param
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="de-DE")
    context.set_default_timeout(15_000)
    yield context.new_page(), width
    context.close()


def sign_in(page, base: str, staff) -> None:
    """Password, then the code of the authenticator app (STAFF_2FA_REQUIRED)."""
    page.goto(f"{base}/admin/login/")
    page.locator("#id_username").fill(staff.username)
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(re.compile(r"/admin/second-factor/"))
    page.locator("input[name=code]").fill(code_of(TOTPDevice.objects.get(user=staff)))
    page.locator("input[type=submit].default").click()
    page.wait_for_url(f"{base}/admin/")


def fits(page) -> list[str]:
    """What makes the page wider than the screen: the document, and the widest elements
    that stick out on the right (to name the culprit)."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const found = [];
          if (document.documentElement.scrollWidth > width) {
            found.push(`document ${document.documentElement.scrollWidth} px wide`);
          }
          for (const el of document.body.querySelectorAll("*")) {
            const box = el.getBoundingClientRect();
            if (box.width && box.right > width + 1 && !el.closest(".readonly-scroll")) {
              const name = `${el.tagName.toLowerCase()}#${el.id}.${el.className}`;
              found.push(`${name}: right ${Math.round(box.right)} px`);
            }
          }
          return found.slice(0, 8);
        }"""
    )


def test_staff_import_a_german_members_file_from_the_admin(browser_page, live_server, world):
    page, width = browser_page
    base, staff = live_server.url, world["staff"]
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in(page, base, staff)

    # the admin's home lists the imports; their list has an add button
    page.get_by_role("link", name=re.compile(r"^(Imports|Importe)$")).first.click()
    page.wait_for_url(f"{base}/admin/programs/importjob/")
    page.get_by_role("link", name=re.compile(r"^import hinzufügen$", re.IGNORECASE)).click()
    page.wait_for_url(f"{base}/admin/programs/importjob/add/")
    page.locator("#id_kind").select_option("members")
    page.locator("#id_partner").select_option(label="Altes Kassensystem")
    page.locator("#id_program").select_option(label="Kaffeerösterei")
    page.locator("#id_file").set_input_files(
        {"name": "kassensystem-export.csv", "mimeType": "text/csv", "buffer": FILE}
    )
    page.locator("#content-main input[type=submit]").click()

    # the dry run: four rows, one bad (line 4, the first name), nothing written yet
    page.wait_for_url(re.compile(r"/admin/programs/importjob/\d+/change/$"))
    job = ImportJob.objects.get()
    assert job.created_by == staff
    expect(page.locator("#dry-run-rows")).to_have_text("4")
    expect(page.locator("#dry-run-valid")).to_have_text("3")
    expect(page.locator("#dry-run-errors")).to_have_text("1")
    expect(page.locator("#dry-run-points")).to_have_text(re.compile(r"^14[.,]?095$"))
    bad = page.locator("#import-errors tbody tr")
    expect(bad).to_have_count(1)
    cells = [cell.strip() for cell in bad.locator("td").all_inner_texts()]
    assert cells[:2] == ["4", "first_name"], cells
    assert "HYPERLINK" not in page.locator("#import-errors").inner_text()  # not echoed back
    assert "cp1252" in page.locator(".import-job").inner_text()  # the encoding found
    assert not Customer.objects.exists()
    page.screenshot(path=str(ARTIFACTS / f"{width}-import-dry-run.png"), full_page=True)
    problems = page_problems(page)
    assert not problems, "\n".join(problems)
    if width == 375:
        assert fits(page) == []

    # confirm; the import is written (what the worker does) and the page says so
    page.locator("#import-dry-run form input[type=submit]").click()
    page.wait_for_url(f"{base}/admin/programs/importjob/{job.pk}/change/")
    import_commit(job.pk)
    page.reload()
    expect(page.locator("#import-status-label")).to_have_text(
        re.compile(r"^(Imported|Importiert)$")
    )
    expect(page.locator("#import-dry-run form")).to_have_count(0)  # nothing left to confirm
    # "4 rows processed, 1 bad rows left out.": the bad row of the dry run, counted once
    expect(page.locator("#import-status")).to_contain_text(re.compile(r"\b4 \D+, 1 \D+\."))
    expect(bad).to_have_count(1)
    assert [cell.strip() for cell in bad.locator("td").all_inner_texts()][:2] == cells[:2]
    page.screenshot(path=str(ARTIFACTS / f"{width}-import-done.png"), full_page=True)
    if width == 375:
        assert fits(page) == []

    job.refresh_from_db()
    assert (job.status, job.rows_done, job.rows_error) == (ImportStatus.DONE, 4, 1)
    links = PartnerCustomer.objects.filter(partner=world["partner"])
    assert sorted(links.values_list("external_id", flat=True)) == sorted(IMPORTED)
    balances = {
        link.external_id: Membership.objects.get(customer=link.customer_id).balance
        for link in links
    }
    assert balances == IMPORTED
    joerg = PartnerCustomer.objects.get(external_id="A-100").customer
    assert (joerg.first_name, joerg.last_name) == ("Jörg", "Weiß")
    assert not Customer.objects.filter(first_name__contains="HYPERLINK").exists()
