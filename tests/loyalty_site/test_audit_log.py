"""Every staff write lands in the audit log with who, when, what and the values before and
after; the database keeps the log append-only; erasing a customer redacts their values."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from customers.privacy import customer_anonymize
from loyalty_site.core.audit import REDACTED, SECRET, values_changed
from loyalty_site.core.models import AuditEntry
from programs.admin.forms import adjustment_key_new
from programs.models import Reward, Tier
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


@pytest.fixture
def staff():
    return StaffFactory(username="sabine")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


def changeform_data(response) -> dict:
    """The POST a browser sends for an admin change page as shown (inlines included)."""

    def fields(form):
        data = {}
        for bound in form:
            value = bound.value()
            if value is None or value is False:
                continue
            data[bound.html_name] = "on" if value is True else value
        return data

    data = fields(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data |= {field.html_name: field.value() for field in formset.management_form}
        for form in formset.forms:
            data |= fields(form)
    return data


def entries(**filters):
    return list(AuditEntry.objects.filter(**filters).order_by("id"))


def test_an_admin_change_records_the_fields_before_and_after_with_its_inlines(staff_client, staff):
    program = ProgramFactory(name="Kaffeeclub")
    tiers = standard_tiers(program)
    url = reverse("admin:programs_program_change", args=[program.pk])
    data = changeform_data(staff_client.get(url))
    data["name"] = "Kaffeeclub Plus"
    data["tiers-1-name"] = "Silber plus"
    assert data["tiers-1-id"] == tiers["Silber"].pk
    response = staff_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors

    (program_row,) = entries(model="programs.program")
    assert (program_row.actor_id, program_row.actor_name) == (staff.pk, "sabine")
    assert (program_row.action, program_row.object_id) == ("change", str(program.pk))
    assert program_row.object_repr == "Kaffeeclub Plus"
    assert program_row.changes["name"] == ["Kaffeeclub", "Kaffeeclub Plus"]
    (tier_row,) = entries(model="programs.tier")
    assert tier_row.action == "change"
    assert tier_row.object_id == str(tiers["Silber"].pk)
    assert tier_row.changes == {"name": ["Silber", "Silber plus"]}


def test_an_admin_add_records_the_new_values(staff_client):
    program = ProgramFactory()
    response = staff_client.post(
        reverse("admin:programs_reward_add"),
        {
            "program": program.pk,
            "name": "Tasse",
            "points_cost": 300,
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    reward = Reward.objects.get(name="Tasse")
    (row,) = entries(model="programs.reward")
    assert (row.action, row.object_id) == ("add", str(reward.pk))
    assert row.changes["name"] == [None, "Tasse"]
    assert row.changes["points_cost"] == [None, 300]


def test_an_admin_delete_records_what_the_record_held(staff_client):
    reward = RewardFactory(name="Tasse")
    response = staff_client.post(
        reverse("admin:programs_reward_delete", args=[reward.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    (row,) = entries(model="programs.reward")
    assert (row.action, row.object_id, row.object_repr) == ("delete", str(reward.pk), "Tasse")
    assert row.changes["name"] == ["Tasse", None]


def test_deleting_selected_records_each_one(staff_client):
    rewards = [RewardFactory(), RewardFactory()]
    response = staff_client.post(
        reverse("admin:programs_reward_changelist"),
        {"action": "delete_selected", "_selected_action": [r.pk for r in rewards], "post": "yes"},
    )
    assert response.status_code == 302
    assert {(row.action, row.object_id) for row in entries(model="programs.reward")} == {
        ("delete", str(r.pk)) for r in rewards
    }


def test_an_admin_action_records_each_record_it_changed(staff_client, staff):
    from programs.models import ApiKeyScope
    from programs.services.api_keys import api_key_create

    partner_key, _plain = api_key_create(
        partner=_partner(), name="Kasse 1", scopes=[ApiKeyScope.values[0]]
    )
    response = staff_client.post(
        reverse("admin:programs_apikey_changelist"),
        {"action": "revoke", "_selected_action": [partner_key.pk]},
    )
    assert response.status_code == 302
    (row,) = entries(model="programs.apikey")
    assert row.action == "revoke"
    assert row.note == "Ausgewählte API-Schlüssel widerrufen"
    assert row.changes["revoked_at"][0] is None
    assert row.changes["revoked_at"][1] is not None


def _partner():
    from tests.factories import PartnerFactory

    return PartnerFactory(programs=[ProgramFactory()])


def _membership():
    program = ProgramFactory()
    standard_tiers(program)
    customer = CustomerFactory(first_name="Erika", last_name="Mustermann")
    membership, _created = membership_enroll(customer=customer, program=program)
    return membership


def test_a_points_adjustment_is_recorded_once_with_the_balance_before_and_after(staff_client):
    membership = _membership()
    response = staff_client.post(
        reverse("admin:programs_membership_adjust_points", args=[membership.pk]),
        {"points": 250, "reason": "Kulanz", "idempotency_key": adjustment_key_new()},
    )
    assert response.status_code == 302
    (row,) = entries(model="programs.membership")
    assert row.action == "adjust_points"
    assert row.changes == {"available": [0, 250]}
    assert row.note == "+250: Kulanz"
    assert row.customer_id == membership.customer_id


def test_a_tier_set_by_staff_is_recorded_with_the_tier_before_and_after(staff_client):
    membership = _membership()
    gold = Tier.objects.get(program=membership.program, name="Gold")
    bronze = membership.tier
    response = staff_client.post(
        reverse("admin:programs_membership_set_tier", args=[membership.pk]),
        {"tier": gold.pk, "reason": "Beschwerde"},
    )
    assert response.status_code == 302
    (row,) = entries(model="programs.membership")
    assert row.action == "set_tier"
    assert row.changes["override_tier_id"] == [None, gold.pk]
    assert row.changes["tier_id"] == [bronze.pk, gold.pk]


def test_an_operation_page_without_a_service_record_is_recorded_with_its_message(staff_client):
    membership = _membership()
    response = staff_client.post(
        reverse("admin:programs_membership_change_status", args=[membership.pk]),
        {"change": "suspend", "reason": "Missbrauch geprüft"},
    )
    assert response.status_code == 302
    (row,) = entries(model="programs.membership")
    assert row.action == "change"
    assert "Missbrauch geprüft" in row.note


def test_a_role_member_is_recorded_too(client):
    manager = UserFactory(username="paul", is_staff=True)
    manager.groups.add(Group.objects.get(name="Programm-Management"))
    client.force_login(manager)
    program = ProgramFactory(name="Teeclub")
    url = reverse("admin:programs_program_change", args=[program.pk])
    data = changeform_data(client.get(url)) | {"description": "Neu"}
    assert client.post(url, data).status_code == 302
    (row,) = entries(model="programs.program")
    assert (row.actor_name, row.changes["description"]) == ("paul", ["", "Neu"])


def test_secrets_are_recorded_as_changed_never_with_their_value():
    changes = values_changed(
        {"password": "pbkdf2$old", "key": "abc", "name": "a"},
        {"password": "pbkdf2$new", "key": "def", "name": "a"},
    )
    assert changes == {"password": [SECRET, SECRET], "key": [SECRET, SECRET]}


def test_the_audit_log_is_read_only_in_the_admin(staff_client, staff):
    audit_row = _a_row(staff)
    assert staff_client.get(reverse("admin:core_auditentry_changelist")).status_code == 200
    change = reverse("admin:core_auditentry_change", args=[audit_row.pk])
    page = staff_client.get(change)
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert staff_client.get(reverse("admin:core_auditentry_add")).status_code == 403
    delete = reverse("admin:core_auditentry_delete", args=[audit_row.pk])
    assert staff_client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=audit_row.pk).exists()


def test_the_audit_log_is_searchable_and_filterable(staff_client, staff):
    row = _a_row(staff)
    changelist = reverse("admin:core_auditentry_changelist")
    found = staff_client.get(changelist, {"q": "sabine"})
    assert row.object_repr in found.content.decode()
    assert found.context["cl"].result_count == 1
    assert staff_client.get(changelist, {"q": "niemand"}).context["cl"].result_count == 0
    assert staff_client.get(changelist, {"action": "adjust_points"}).context["cl"].result_count == 1
    assert staff_client.get(changelist, {"model": "programs.tier"}).context["cl"].result_count == 0


def _a_row(staff) -> AuditEntry:
    from programs.services.actions import points_adjust

    membership = _membership()
    points_adjust(
        membership=membership,
        points=10,
        reason="Test",
        user=staff,
        idempotency_key=adjustment_key_new(),
    )
    return AuditEntry.objects.get()


def test_the_database_refuses_to_update_or_delete_audit_rows(staff):
    row = _a_row(staff)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=row.pk).update(actor_name="jemand")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=row.pk)._raw_delete(using="default")
    # Even a "redaction" may not touch who, when or what.
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE core_auditentry SET redacted_at = now(), action = 'add' WHERE id = %s",
            [row.pk],
        )
    row.refresh_from_db()
    assert (row.actor_name, row.action, row.redacted_at) == ("sabine", "adjust_points", None)


def test_erasing_a_customer_redacts_their_audit_rows_and_keeps_them(staff_client, staff):
    membership = _membership()
    customer = membership.customer
    url = reverse("admin:customers_customer_change", args=[customer.pk])
    data = changeform_data(staff_client.get(url)) | {"email": "erika.neu@example.com"}
    assert staff_client.post(url, data).status_code == 302
    staff_client.post(
        reverse("admin:programs_membership_adjust_points", args=[membership.pk]),
        {"points": 40, "reason": "Kulanz für Erika", "idempotency_key": adjustment_key_new()},
    )
    staff_client.post(
        reverse("admin:customers_customernote_add"),
        {"customer": customer.pk, "text": "Zieht im Mai nach Kassel."},
    )
    other = CustomerFactory(first_name="Otto")
    other_url = reverse("admin:customers_customer_change", args=[other.pk])
    data = changeform_data(staff_client.get(other_url)) | {"last_name": "Normal"}
    staff_client.post(other_url, data)
    before = {row.pk: row for row in entries(customer_id=customer.pk)}
    assert len(before) == 3

    customer_anonymize(customer=customer, user=staff)

    after = {row.pk: row for row in entries(customer_id=customer.pk)}
    assert after.keys() == before.keys()
    customer_row = next(r for r in after.values() if r.model == "customers.customer")
    assert customer_row.changes["email"] == [REDACTED, REDACTED]
    assert "Erika" not in customer_row.object_repr
    note_row = next(r for r in after.values() if r.model == "customers.customernote")
    assert note_row.changes["text"] == [None, REDACTED]
    adjustment = next(r for r in after.values() if r.action == "adjust_points")
    assert adjustment.changes == {"available": [0, 40]}  # not personal: kept
    assert adjustment.note == f"+40: Kulanz für {REDACTED}"
    for row in after.values():
        assert row.redacted_at is not None
        assert (row.actor_name, row.action, row.at) == (
            before[row.pk].actor_name,
            before[row.pk].action,
            before[row.pk].at,
        )
    (untouched,) = entries(customer_id=other.pk)
    assert untouched.redacted_at is None
    assert untouched.object_repr == "Otto Normal"
    # The admin's own history names the customer by id only.
    history = LogEntry.objects.filter(object_id=str(customer.pk), content_type__model="customer")
    assert set(history.values_list("object_repr", flat=True)) == {f"#{customer.pk}"}
