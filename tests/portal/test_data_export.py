""" "Download my data" holds everything the platform keeps about the member: each section
for a member who has it, nothing of other members, and staff's notes only as a count."""

import json
from decimal import Decimal

import pytest

from customers.models import CustomerNote
from customers.preferences import customer_preferences_update
from customers.privacy import customer_anonymize
from loyalty_site.core.audit import audit_record
from loyalty_site.core.models import AuditAction
from programs.models import PartnerCustomer
from programs.services.holds import hold_place
from programs.services.ledger import Actor
from programs.services.rewards import reward_redeem
from surveys.models import Answer, Channel, SurveyKind
from surveys.services.invitations import invitation_create
from surveys.services.responses import response_submit
from surveys.services.surveys import survey_create
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

NOTE = "Rief an, sehr verärgert über die Lieferung"


@pytest.fixture
def program(program):
    program.pending_days = 0
    program.save()
    return program


@pytest.fixture
def member_with_everything(customer, membership, other_membership, buy, reward, partner):
    buy(membership, "600.00", order_id="MINE-1")  # Bronze -> Silber, 600 points
    buy(other_membership, "600.00", order_id="THEIRS-1")
    redemption = reward_redeem(membership=membership, reward=reward, actor=Actor.system())
    hold_place(
        membership=membership,
        partner=partner,
        amount=Decimal("1.00"),
        idempotency_key="hold-1",
        order_reference="ORDER-77",
    )
    PartnerCustomer.objects.create(partner=partner, customer=customer, external_id="SHOP-42")
    customer_preferences_update(customer, email_marketing=True)
    survey = survey_create(program=membership.program, kind=SurveyKind.NPS, name="Zufriedenheit")
    invitation = invitation_create(survey=survey, membership=membership, channel=Channel.STAFF)
    response_submit(
        invitation_id=invitation.pk,
        answers={"recommend": "9", "why": "Der Kaffee ist großartig"},
    )
    staff = StaffFactory(username="sachbearbeiterin.meier")
    note = CustomerNote.objects.create(customer=customer, text=NOTE, author=staff)
    audit_record(
        user=staff,
        action=AuditAction.ADD,
        obj=note,
        changes={"text": [None, NOTE]},
        customer_id=customer.pk,
    )
    audit_record(
        user=staff,
        action=AuditAction.ADJUST_POINTS,
        obj=membership,
        changes={"points": [0, 25]},
        note="Kulanz nach Reklamation",
        customer_id=customer.pk,
    )
    return redemption


def export(portal) -> tuple[dict, str]:
    response = portal.get("/portal/profile/data/")
    assert response.status_code == 200
    body = response.content.decode()
    return json.loads(body), body


def test_export_holds_every_section(portal, customer, membership, member_with_everything):
    redemption = member_with_everything
    data, _body = export(portal)

    (mine,) = data["memberships"]
    assert mine["card_number"] == membership.card_number
    assert mine["tier"] == "Silber"
    assert [(t["from_tier__name"], t["to_tier__name"]) for t in data["tier_history"]][-1] == (
        "Bronze",
        "Silber",
    )
    (voucher,) = data["redemptions"]
    assert voucher["voucher_code"] == redemption.voucher_code
    assert voucher["reward__name"] == "Cappuccino"
    (hold,) = data["points_holds"]
    assert (hold["order_reference"], hold["status"]) == ("ORDER-77", "held")
    assert [link["external_id"] for link in data["partner_links"]] == ["SHOP-42"]
    assert data["communication_preferences"]["email_marketing"] is True
    assert data["communication_preferences_changed_at"]
    assert data["portal_login"]["username"] == "anna@example.com"

    titles = {n["kind"]: (n["title"], n["text"]) for n in data["notifications"]}
    assert titles["tier_upgrade"][0] == "Willkommen bei Silber!"
    assert redemption.voucher_code in titles["reward_redeemed"][1]

    (invitation,) = data["survey_invitations"]
    assert invitation["survey__name"] == "Zufriedenheit"
    assert invitation["answered_at"]
    (answer,) = data["survey_answers"]
    assert (answer["score"], answer["comment"]) == (9, "Der Kaffee ist großartig")
    assert {a["question"]: a["value"] or a["text"] for a in answer["answers"]} == {
        "Wie wahrscheinlich ist es, dass Sie uns einem Freund weiterempfehlen?": 9,
        "Warum? (optional)": "Der Kaffee ist großartig",
    }

    (adjustment,) = data["staff_actions"]
    assert adjustment["note"] == "Kulanz nach Reklamation"
    assert adjustment["changes"] == {"points": [0, 25]}


def test_staff_notes_are_counted_not_handed_out(portal, member_with_everything):
    data, body = export(portal)

    assert data["staff_notes_count"] == 1
    assert NOTE not in body  # neither the note nor its audit entry
    assert "sachbearbeiterin.meier" not in body  # staff are not named
    assert "THEIRS-1" not in body


def test_erasure_clears_free_text_answers(customer, member_with_everything):
    customer_anonymize(customer=customer, user=None)

    assert list(Answer.objects.exclude(text="").values_list("text", flat=True)) == []
