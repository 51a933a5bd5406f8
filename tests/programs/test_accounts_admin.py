"""Staff manage shared accounts and review points transfers in the admin: every page
renders for the roles that may see it, every operation goes through the services, and a
refusal is a message on the form, never a server error."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils.translation import gettext

from customers.models import CustomerKind
from programs.cards import card_number_display
from programs.models import (
    Account,
    AccountInvitation,
    AccountMember,
    AccountRole,
    AccountStatus,
    InvitationStatus,
    Membership,
    Transfer,
    TransferStatus,
)
from programs.services.ledger import Actor
from programs.services.transfers import transfer_create
from tests.factories import StaffFactory, UserFactory, enrolled, shared_account

pytestmark = pytest.mark.django_db

SUPPORT, MANAGER, FINANCE, ADMINISTRATION = (
    "Kundenservice",
    "Programm-Management",
    "Finanzen",
    "Administration",
)
ROLES = (SUPPORT, MANAGER, FINANCE, ADMINISTRATION)


def staff_of(role: str):
    user = UserFactory(username=role.lower().replace("-", "_"), is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def staff_client(client, db):
    client.force_login(StaffFactory())
    return client


@pytest.fixture
def business(program, tiers, buy):
    """A business account with an owner and a buyer who bought for it (points pooled)."""
    owner = enrolled(program, first_name="Thomas", last_name="Müller", email="t@example.com")
    buyer = enrolled(program, first_name="Jonas", last_name="Becker", email="j@example.com")
    account = shared_account(program, manager=owner, buyer=[buyer])
    buy(Membership.objects.get(pk=buyer.pk), "120.00")
    account.refresh_from_db()
    return account


def url(account: Account, name: str) -> str:
    return reverse(f"admin:programs_account_{name}", args=[account.pk])


def member_of(account: Account, membership: Membership) -> AccountMember:
    return AccountMember.objects.get(account=account, membership=membership, left_at=None)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def errors_of(response) -> str:
    form = response.context["form"]
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


# --- who sees what ------------------------------------------------------------------------


@pytest.fixture
def review_transfer(program, tiers, buy):
    program.transfers_enabled, program.transfer_review_above = True, 50
    program.transfer_min_age_days = 0
    program.save()
    sender = enrolled(program, first_name="Klaus", email="k@example.com")
    buy(sender, "200.00")
    recipient = enrolled(program, first_name="Erika", email="e@example.com")
    transfer, _ = transfer_create(
        sender=Membership.objects.get(pk=sender.pk),
        recipient=recipient,
        points=80,
        key="test:review",
        actor=Actor.for_customer(),
    )
    assert transfer.status == TransferStatus.REVIEW
    return transfer


# page: (support, program manager, finance, administration); 1 = 200, 0 = 403
EXPECTED = {
    "accounts": (1, 1, 0, 1),
    "account": (1, 1, 0, 1),
    "account add": (0, 1, 0, 1),
    "member add": (0, 1, 0, 1),
    "close": (0, 1, 0, 1),
    "transfers": (1, 1, 1, 1),
    "transfer": (1, 1, 1, 1),
    "approve": (0, 1, 0, 1),
}
CASES = [
    (page, role, allowed[i]) for page, allowed in EXPECTED.items() for i, role in enumerate(ROLES)
]


@pytest.mark.parametrize(("page", "role", "allowed"), CASES)
def test_each_role_reaches_exactly_its_account_pages(
    client, business, review_transfer, page, role, allowed
):
    pages = {
        "accounts": reverse("admin:programs_account_changelist"),
        "account": url(business, "change"),
        "account add": reverse("admin:programs_account_add"),
        "member add": url(business, "member_add"),
        "close": url(business, "close"),
        "transfers": reverse("admin:programs_transfer_changelist"),
        "transfer": reverse("admin:programs_transfer_change", args=[review_transfer.pk]),
        "approve": reverse("admin:programs_transfer_approve", args=[review_transfer.pk]),
    }
    client.force_login(staff_of(role))
    response = client.get(pages[page])
    assert response.status_code == (200 if allowed else 403)


def test_support_sees_the_account_but_no_buttons(client, business):
    client.force_login(staff_of(SUPPORT))
    html = client.get(url(business, "change")).content.decode()
    assert "Thomas" in html
    assert "Jonas" in html
    assert url(business, "member_add") not in html
    assert url(business, "close") not in html


def test_the_list_shows_members_pooled_points_and_tier(staff_client, business):
    response = staff_client.get(reverse("admin:programs_account_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    holder = business.holder
    holder.refresh_from_db()
    assert holder.balance == 120
    row = html.split(business.name, 1)[1].split("</tr>", 1)[0]
    assert ">2<" in row  # members
    assert ">120<" in row  # the buyer's purchase, pooled
    assert holder.tier.name in row


def test_search_by_vat_id_and_filter_by_kind(staff_client, business, program):
    Account.objects.filter(pk=business.pk).update(vat_id="DE298765431")
    household = shared_account(program, kind="household")
    changelist = reverse("admin:programs_account_changelist")
    found = staff_client.get(changelist, {"q": "DE298765431"}).context["cl"].result_list
    assert list(found) == [business]
    found = staff_client.get(changelist, {"kind__exact": "household"}).context["cl"].result_list
    assert list(found) == [household]


# --- creating and editing ---------------------------------------------------------------------


def test_create_an_account_with_its_manager_by_card_number(staff_client, program, tiers):
    manager = enrolled(program, first_name="Klaus")
    response = staff_client.post(
        reverse("admin:programs_account_add"),
        {
            "program": program.pk,
            "kind": "household",
            "name": "Familie Schneider",
            "country": "DE",
            "manager": card_number_display(manager.card_number),
        },
    )
    assert response.status_code == 302
    account = Account.objects.get(name="Familie Schneider")
    assert account.holder.customer.kind == CustomerKind.SHARED
    assert member_of(account, manager).role == AccountRole.HEAD
    assert Membership.objects.get(pk=manager.pk).pool_id == account.holder_id


def test_create_with_an_unknown_manager_is_a_form_error(staff_client, program):
    response = staff_client.post(
        reverse("admin:programs_account_add"),
        {"program": program.pk, "kind": "business", "name": "X GmbH", "manager": "no@one.de"},
    )
    assert response.status_code == 200
    assert gettext("No member of %(program)s has this card number or e-mail.") % {
        "program": program.name
    } in errors_of(response)
    assert not Account.objects.exists()


def test_company_data_is_edited_on_the_change_page(staff_client, business):
    data = {
        "name": "Müller Gastro GmbH",
        "vat_id": "DE298765431",
        "street": "Kaiser-Joseph-Straße 212",
        "postal_code": "79098",
        "city": "Freiburg",
        "country": "DE",
        "requires_po_reference": "on",
    }
    for prefix in ("members", "invitations"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    response = staff_client.post(url(business, "change"), data)
    assert response.status_code == 302
    business.refresh_from_db()
    assert (business.name, business.vat_id, business.requires_po_reference) == (
        "Müller Gastro GmbH",
        "DE298765431",
        True,
    )
    assert business.holder.customer.last_name == "Müller Gastro GmbH"


# --- members ------------------------------------------------------------------------------


def test_add_a_member_by_email_with_a_monthly_limit(staff_client, business, program):
    katrin = enrolled(program, first_name="Katrin", email="Katrin.Wolf@example.com")
    response = staff_client.post(
        url(business, "member_add"),
        {"member": "katrin.wolf@example.com", "role": "buyer", "monthly_limit": "500"},
    )
    assert response.status_code == 302
    member = member_of(business, katrin)
    assert (member.role, member.monthly_limit) == (AccountRole.BUYER, 500)
    assert Membership.objects.get(pk=katrin.pk).pool_id == business.holder_id


def test_a_member_of_another_account_is_refused_on_the_form(staff_client, business, program):
    other = enrolled(program, email="busy@example.com")
    shared_account(program, kind="household", manager=other)
    response = staff_client.post(
        url(business, "member_add"), {"member": "busy@example.com", "role": "buyer"}
    )
    assert response.status_code == 200
    assert errors_of(response)
    assert not AccountMember.objects.filter(account=business, membership=other).exists()


def test_a_household_role_is_not_offered_for_a_business(staff_client, business, program):
    enrolled(program, email="x@example.com")
    response = staff_client.post(
        url(business, "member_add"), {"member": "x@example.com", "role": "head"}
    )
    assert response.status_code == 200
    assert "role" in response.context["form"].errors


def test_change_a_members_role_and_limit(staff_client, business):
    buyer = business.members.get(role=AccountRole.BUYER)
    page = staff_client.get(url(business, "member_update"), {"member": buyer.pk})
    assert page.context["form"].initial["member"] == buyer
    response = staff_client.post(
        url(business, "member_update"),
        {"member": buyer.pk, "role": "viewer", "monthly_limit": ""},
    )
    assert response.status_code == 302
    buyer.refresh_from_db()
    assert (buyer.role, buyer.monthly_limit) == (AccountRole.VIEWER, None)


def test_the_last_owner_cannot_be_made_a_buyer(staff_client, business):
    owner = business.members.get(role=AccountRole.OWNER)
    response = staff_client.post(
        url(business, "member_update"), {"member": owner.pk, "role": "buyer"}
    )
    assert response.status_code == 200
    assert errors_of(response)
    owner.refresh_from_db()
    assert owner.role == AccountRole.OWNER


def test_remove_a_member_keeps_the_points_with_the_account(staff_client, business):
    buyer = business.members.get(role=AccountRole.BUYER)
    response = staff_client.post(
        url(business, "member_remove"), {"member": buyer.pk, "confirm": "on"}
    )
    assert response.status_code == 302
    buyer.refresh_from_db()
    assert buyer.left_at is not None
    assert Membership.objects.get(pk=buyer.membership_id).pool_id is None
    assert Membership.objects.get(pk=business.holder_id).balance == 120


def test_the_owner_cannot_leave_while_others_remain(staff_client, business):
    owner = business.members.get(role=AccountRole.OWNER)
    response = staff_client.post(
        url(business, "member_remove"), {"member": owner.pk, "confirm": "on"}
    )
    assert response.status_code == 200
    assert "member" in response.context["form"].errors
    owner.refresh_from_db()
    assert owner.left_at is None


def test_invite_by_email_and_not_twice(staff_client, business):
    data = {"email": "neu@example.com", "role": "buyer"}
    assert staff_client.post(url(business, "invite"), data).status_code == 302
    invitation = AccountInvitation.objects.get(account=business)
    assert (invitation.email, invitation.status) == ("neu@example.com", InvitationStatus.OPEN)
    response = staff_client.post(url(business, "invite"), data)
    assert response.status_code == 200
    assert "email" in response.context["form"].errors
    assert AccountInvitation.objects.filter(account=business).count() == 1


# --- closing --------------------------------------------------------------------------------


def test_close_page_states_the_settlement_rule(staff_client, business):
    html = staff_client.get(url(business, "close")).content.decode()
    assert "120" in html  # the points available now
    assert "Thomas" in html  # who receives them


def test_close_settles_the_points_to_the_owner(staff_client, business):
    owner = business.members.get(role=AccountRole.OWNER).membership
    response = staff_client.post(url(business, "close"), {"confirm": "on"})
    assert response.status_code == 302
    business.refresh_from_db()
    assert business.status == AccountStatus.CLOSED
    assert Membership.objects.get(pk=owner.pk).balance == 120
    assert Membership.objects.get(pk=business.holder_id).balance == 0
    settlement = Transfer.objects.get(sender=business.holder_id)
    assert (settlement.recipient_id, settlement.status) == (owner.pk, TransferStatus.DONE)
    # a closed account offers no operations any more
    html = staff_client.get(url(business, "change")).content.decode()
    assert url(business, "member_add") not in html
    assert staff_client.get(url(business, "member_add")).status_code == 403


def test_close_is_refused_while_points_are_pending(staff_client, business, program, buy):
    program.pending_days = 14
    program.save()
    buyer = business.members.get(role=AccountRole.BUYER).membership
    buy(Membership.objects.select_related("program").get(pk=buyer.pk), "30.00")
    assert Membership.objects.get(pk=business.holder_id).pending == 30
    response = staff_client.post(url(business, "close"), {"confirm": "on"})
    assert response.status_code == 200
    assert "30" in errors_of(response)
    business.refresh_from_db()
    assert business.status == AccountStatus.ACTIVE
    assert not Transfer.objects.exists()


# --- transfers ---------------------------------------------------------------------------------


def transfer_url(transfer: Transfer, name: str) -> str:
    return reverse(f"admin:programs_transfer_{name}", args=[transfer.pk])


def test_the_review_queue_shows_the_reasons(staff_client, review_transfer):
    response = staff_client.get(
        reverse("admin:programs_transfer_changelist"), {"status__exact": "review"}
    )
    assert list(response.context["cl"].result_list) == [review_transfer]
    reason = gettext("more than %(points)s points") % {"points": 50}
    assert reason in response.content.decode()


def test_approve_moves_the_points(staff_client, review_transfer):
    response = staff_client.post(transfer_url(review_transfer, "approve"), {"note": "ok"})
    assert response.status_code == 302
    review_transfer.refresh_from_db()
    assert review_transfer.status == TransferStatus.DONE
    assert review_transfer.review_note == "ok"
    assert Membership.objects.get(pk=review_transfer.sender_id).balance == 120
    assert Membership.objects.get(pk=review_transfer.recipient_id).balance == 80


def test_approve_without_the_points_is_a_form_error(staff_client, review_transfer, buy):
    from programs.services.actions import points_adjust

    points_adjust(
        membership=review_transfer.sender,
        points=-150,
        reason="Korrektur",
        user=StaffFactory(),
        idempotency_key="staff-adjust:t",
    )
    response = staff_client.post(transfer_url(review_transfer, "approve"), {"note": ""})
    assert response.status_code == 200
    assert errors_of(response)
    review_transfer.refresh_from_db()
    assert review_transfer.status == TransferStatus.REVIEW


def test_reject_needs_a_note(staff_client, review_transfer):
    response = staff_client.post(transfer_url(review_transfer, "reject"), {"note": ""})
    assert response.status_code == 200
    response = staff_client.post(transfer_url(review_transfer, "reject"), {"note": "Verdacht"})
    assert response.status_code == 302
    review_transfer.refresh_from_db()
    assert (review_transfer.status, review_transfer.review_note) == (
        TransferStatus.REJECTED,
        "Verdacht",
    )
    assert Membership.objects.get(pk=review_transfer.recipient_id).balance == 0


def test_reverse_a_done_transfer(staff_client, review_transfer):
    staff_client.post(transfer_url(review_transfer, "approve"), {"note": ""})
    page = staff_client.get(reverse("admin:programs_transfer_change", args=[review_transfer.pk]))
    assert transfer_url(review_transfer, "reverse") in page.content.decode()
    response = staff_client.post(transfer_url(review_transfer, "reverse"), {"note": "Irrtum"})
    assert response.status_code == 302
    review_transfer.refresh_from_db()
    assert review_transfer.status == TransferStatus.REVERSED
    assert Membership.objects.get(pk=review_transfer.sender_id).balance == 200
    assert Membership.objects.get(pk=review_transfer.recipient_id).balance == 0


def test_a_rejected_transfer_cannot_be_approved(staff_client, review_transfer):
    staff_client.post(transfer_url(review_transfer, "reject"), {"note": "nein"})
    response = staff_client.post(transfer_url(review_transfer, "approve"), {"note": ""})
    assert response.status_code == 200
    assert errors_of(response)


# --- customers and programs ----------------------------------------------------------------


def test_shared_customers_are_marked_and_filterable(staff_client, business):
    changelist = reverse("admin:customers_customer_changelist")
    response = staff_client.get(changelist, {"kind__exact": "shared"})
    assert [c.pk for c in response.context["cl"].result_list] == [business.holder.customer_id]
    owner = business.members.get(role=AccountRole.OWNER).membership
    page = staff_client.get(reverse("admin:customers_customer_change", args=[owner.customer_id]))
    assert url(business, "change") in page.content.decode()


def test_the_program_page_has_the_transfer_settings(staff_client, program):
    page = staff_client.get(reverse("admin:programs_program_change", args=[program.pk]))
    form = page.context["adminform"].form
    for name in ("accounts_pool", "transfers_enabled", "transfer_review_above"):
        assert name in form.fields


def test_the_accounts_transfers_are_linked_from_its_page(staff_client, business):
    staff_client.post(url(business, "close"), {"confirm": "on"})  # settles by a transfer
    html = staff_client.get(url(business, "change")).content.decode()
    link = f"{reverse('admin:programs_transfer_changelist')}?membership={business.holder_id}"
    assert link in html
    found = staff_client.get(link).context["cl"].result_list
    assert [t.sender_id for t in found] == [business.holder_id]


def test_a_closed_account_is_read_only(staff_client, business):
    staff_client.post(url(business, "close"), {"confirm": "on"})
    response = staff_client.get(url(business, "change"))
    assert "vat_id" not in response.context["adminform"].form.fields
