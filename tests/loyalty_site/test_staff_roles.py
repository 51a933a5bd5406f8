"""The staff roles (groups made by loyalty_site's migration): each sees and does only its
part of the admin, and adjustments above STAFF_ADJUSTMENT_LIMIT need the administrator."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.urls import reverse

from customers.models import CustomerNote
from programs.admin.forms import adjustment_key_new
from programs.models import LedgerEntry
from programs.services.memberships import membership_enroll
from tests.factories import (
    CustomerFactory,
    ProgramFactory,
    RewardFactory,
    StaffFactory,
    UserFactory,
    standard_tiers,
)

pytestmark = pytest.mark.django_db

SUPPORT, MANAGER, FINANCE, ADMINISTRATION = (
    "Kundenservice",
    "Programm-Management",
    "Finanzen",
    "Administration",
)
ROLES = (SUPPORT, MANAGER, FINANCE, ADMINISTRATION)


@pytest.fixture
def world():
    program = ProgramFactory(name="Kaffeeclub")
    standard_tiers(program)
    customer = CustomerFactory(first_name="Erika", last_name="Mustermann")
    membership, _created = membership_enroll(customer=customer, program=program)
    RewardFactory(program=program)
    return {"program": program, "customer": customer, "membership": membership}


def member_of(role: str):
    user = UserFactory(username=role.lower().replace("-", "_"), is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def pages(world) -> dict[str, str]:
    customer, membership = world["customer"], world["membership"]
    return {
        "customers": reverse("admin:customers_customer_changelist"),
        "customer": reverse("admin:customers_customer_change", args=[customer.pk]),
        "note add": reverse("admin:customers_customernote_add"),
        "memberships": reverse("admin:programs_membership_changelist"),
        "membership": reverse("admin:programs_membership_change", args=[membership.pk]),
        "adjust points": reverse("admin:programs_membership_adjust_points", args=[membership.pk]),
        "ledger": reverse("admin:programs_ledgerentry_changelist"),
        "settlement": reverse("admin:programs_ledgerentry_settlement"),
        "programs": reverse("admin:programs_program_changelist"),
        "program add": reverse("admin:programs_program_add"),
        "reward add": reverse("admin:programs_reward_add"),
        "campaigns": reverse("admin:programs_campaign_changelist"),
        "segment add": reverse("admin:programs_segment_add"),
        "metrics": reverse("admin:surveys_metricsdashboard_changelist"),
        "purchases": reverse("admin:programs_purchase_changelist"),
        "api keys": reverse("admin:programs_apikey_changelist"),
        "users": reverse("admin:auth_user_changelist"),
        "user add": reverse("admin:auth_user_add"),
        "audit log": reverse("admin:core_auditentry_changelist"),
        "totp devices": reverse("admin:otp_totp_totpdevice_changelist"),
    }


# page: (support, program manager, finance, administration); 1 = 200, 0 = 403
EXPECTED = {
    "customers": (1, 1, 0, 1),
    "customer": (1, 1, 0, 1),
    "note add": (1, 0, 0, 1),
    "memberships": (1, 1, 0, 1),
    "membership": (1, 1, 0, 1),
    "adjust points": (0, 1, 0, 1),
    "ledger": (1, 1, 1, 1),
    "settlement": (1, 1, 1, 1),
    "programs": (0, 1, 1, 1),
    "program add": (0, 1, 0, 1),
    "reward add": (0, 1, 0, 1),
    "campaigns": (0, 1, 0, 1),
    "segment add": (0, 1, 0, 1),
    "metrics": (0, 1, 1, 1),
    "purchases": (0, 0, 1, 1),
    "api keys": (0, 0, 0, 1),
    "users": (0, 0, 0, 1),
    "user add": (0, 0, 0, 1),
    "audit log": (0, 0, 0, 1),
    "totp devices": (0, 0, 0, 1),
}
CASES = [
    (page, role, allowed[i]) for page, allowed in EXPECTED.items() for i, role in enumerate(ROLES)
]


@pytest.mark.parametrize(("page", "role", "allowed"), CASES)
def test_each_role_reaches_exactly_its_pages(client, world, page, role, allowed):
    client.force_login(member_of(role))
    response = client.get(pages(world)[page])
    assert response.status_code == (200 if allowed else 403)


@pytest.mark.parametrize("role", ROLES)
def test_the_admin_home_lists_only_what_the_role_may_open(client, world, role):
    client.force_login(member_of(role))
    html = client.get(reverse("admin:index")).content.decode()
    for page in ("customers", "programs", "purchases", "users", "audit log", "metrics"):
        allowed = EXPECTED[page][ROLES.index(role)]
        assert (pages(world)[page] in html) == bool(allowed), page


def test_support_adds_a_note_but_cannot_change_a_customer(client, world):
    support = member_of(SUPPORT)
    client.force_login(support)
    customer = world["customer"]
    change_page = client.get(reverse("admin:customers_customer_change", args=[customer.pk]))
    assert "Notiz hinzufügen" in change_page.content.decode()
    response = client.post(
        reverse("admin:customers_customernote_add"),
        {"customer": customer.pk, "text": "Rief wegen fehlender Punkte an."},
    )
    assert response.status_code == 302
    note = CustomerNote.objects.get(customer=customer)
    assert note.author == support
    response = client.post(
        reverse("admin:customers_customer_change", args=[customer.pk]),
        {"email": "other@example.com", "first_name": "X", "last_name": "Y", "language": "de"},
    )
    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.email != "other@example.com"


def adjust(client, membership, points: int):
    return client.post(
        reverse("admin:programs_membership_adjust_points", args=[membership.pk]),
        {"points": points, "reason": "Kulanz", "idempotency_key": adjustment_key_new()},
    )


@pytest.mark.parametrize("points", [1500, -1500])
def test_an_adjustment_above_the_limit_is_refused_for_a_program_manager(
    client, settings, world, points
):
    settings.STAFF_ADJUSTMENT_LIMIT = 1000
    membership = world["membership"]
    if points < 0:
        client.force_login(StaffFactory())
        adjust(client, membership, 2000)
    client.force_login(member_of(MANAGER))
    entries = LedgerEntry.objects.count()
    response = adjust(client, membership, points)
    assert response.status_code == 200
    assert "höchstens 1000 Punkte" in response.content.decode()
    assert LedgerEntry.objects.count() == entries


def test_a_program_manager_may_adjust_up_to_the_limit(client, settings, world):
    settings.STAFF_ADJUSTMENT_LIMIT = 1000
    client.force_login(member_of(MANAGER))
    assert adjust(client, world["membership"], 1000).status_code == 302
    world["membership"].refresh_from_db()
    assert world["membership"].balance == 1000


def test_an_administrator_may_adjust_above_the_limit(client, settings, world):
    settings.STAFF_ADJUSTMENT_LIMIT = 1000
    client.force_login(member_of(ADMINISTRATION))
    assert adjust(client, world["membership"], 5000).status_code == 302
    world["membership"].refresh_from_db()
    assert world["membership"].balance == 5000


def test_no_role_may_write_the_audit_log():
    codenames = {"add_auditentry", "change_auditentry", "delete_auditentry"}
    for role in ROLES:
        granted = set(Group.objects.get(name=role).permissions.values_list("codename", flat=True))
        assert not granted & codenames, role
    administration = Group.objects.get(name=ADMINISTRATION).permissions
    assert administration.filter(codename="view_auditentry").exists()
    assert administration.filter(codename="adjust_points_unlimited").exists()


def test_the_roles_migration_runs_again_on_a_database_in_use():
    support = Group.objects.get(name=SUPPORT)
    extra = Permission.objects.get(codename="view_purchase")
    support.permissions.add(extra)  # granted by hand since
    before = {role: Group.objects.get(name=role).permissions.count() for role in ROLES}
    call_command("migrate", "loyalty_site", "zero", verbosity=0)
    call_command("migrate", "loyalty_site", verbosity=0)
    after = {role: Group.objects.get(name=role).permissions.count() for role in ROLES}
    assert after == before
    assert support.permissions.filter(pk=extra.pk).exists()
