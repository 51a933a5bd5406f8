"""The shared account in the portal: the account page with its pooled balance, members
and who earned and spent what; invitations (e-mail, accept, decline, withdraw); roles
(a viewer cannot redeem from the pool, only the managing member invites and manages);
leaving; giving points."""

import re
import uuid

import pytest
from django.core import mail
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext

from loyalty_site.portal.models import EmailConfirmation
from programs.models import (
    AccountInvitation,
    AccountKind,
    AccountMember,
    AccountRole,
    InvitationStatus,
    Redemption,
    Transfer,
)
from programs.services.account_invitation_emails import account_invitation_emails_due
from programs.services.account_invitations import account_invite
from programs.services.accounts import account_create, account_member_add
from programs.services.due import points_release_due
from programs.services.ledger import Actor
from programs.services.memberships import membership_enroll
from programs.services.rewards import reward_redeem
from programs.tasks import sweep_account_invitations_task
from tests.portal.conftest import make_customer

pytestmark = pytest.mark.django_db

PAGE = "/portal/shared-account/"


@pytest.fixture
def account(program, membership, tiers):
    """Müller GmbH, owned by Anna (the signed-in customer)."""
    return account_create(
        program=program, kind=AccountKind.BUSINESS, name="Müller GmbH", manager=membership
    )


def _join(account, email, first_name, role):
    customer = make_customer(email, first_name=first_name)
    membership = membership_enroll(customer=customer, program=account.program)[0]
    account_member_add(account=account, membership=membership, role=role)
    membership.refresh_from_db()
    return membership


def _signed_in(client, membership):
    client.force_login(membership.customer.user)
    return client


def _de(msgid: str, **values) -> str:
    """What the German page says for ``msgid`` (HTML-escaped like the page)."""
    with translation.override("de"):
        text = gettext(msgid)
    return escape(text % values if values else text)


def _text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_account_page_shows_pooled_balance_members_and_who_earned_and_spent_what(
    portal, account, membership, buy, reward
):
    bernd = _join(account, "bernd@example.com", "Bernd", AccountRole.BUYER)
    buy(membership, "120.00", days_ago=20)
    buy(bernd, "200.00", days_ago=20)
    buy(bernd, "30.00")
    points_release_due(timezone.now())
    holder = account.holder
    holder.refresh_from_db()
    assert (holder.balance, holder.pending) == (320, 30)  # both bought into the account
    reward_redeem(membership=holder, reward=reward, actor=Actor.system(), by=bernd)

    response = portal.get(PAGE)
    assert response.status_code == 200
    page = _text(response)
    assert '<h1 data-testid="account-name">Müller GmbH</h1>' in page
    assert '<span class="figure" data-testid="account-available">170</span>' in page
    assert '<span class="figure" data-testid="account-pending">30</span>' in page
    assert [m.membership for m in response.context["members"]] == [membership, bernd]
    activity = {a.name: a for a in response.context["activity"]}
    assert activity["Anna Schmidt"].total.purchases == 1
    assert activity["Anna Schmidt"].total.points == 120
    assert activity["Bernd Schmidt"].total.purchases == 2
    assert activity["Bernd Schmidt"].total.points == 230
    assert activity["Bernd Schmidt"].total.redemptions == 1
    assert activity["Bernd Schmidt"].total.redeemed == 150
    assert activity["Bernd Schmidt"].month.purchases >= 1  # the one of today at least
    assert "230,00 EUR" in page  # Bernd's spend, formatted for German
    overview = portal.get("/portal/").content.decode()
    assert 'data-testid="shared-account-card"' in overview
    assert 'href="/portal/shared-account/"' in overview  # and the tab (in the wide layout)


def test_without_account_or_invitation_the_page_says_so_and_no_tab_shows(portal, membership):
    response = portal.get(PAGE)
    assert response.status_code == 200
    assert response.context.get("member") is None
    assert response.context["invitations"] == []
    assert 'href="/portal/shared-account/"' not in portal.get("/portal/").content.decode()


def test_owner_invites_by_email_and_the_email_links_the_sign_up(
    portal, account, program, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = portal.post(
            PAGE, {"action": "invite", "email": "clara@example.com", "role": "buyer"}
        )
    assert response.status_code == 302
    invitation = AccountInvitation.objects.get(account=account)
    assert (invitation.email, invitation.role) == ("clara@example.com", "buyer")
    # the task ran on commit: the e-mail went, and nothing is left to sweep
    invitation.refresh_from_db()
    assert invitation.email_state == "sent"
    assert account_invitation_emails_due() == []
    [message] = mail.outbox
    assert message.to == ["clara@example.com"]
    assert "Müller GmbH" in message.subject
    assert "Anna Schmidt" in message.subject
    # no customer has this address yet: the link is the program's sign-up
    assert f"/portal/join/{program.slug}/" in message.body


def test_invitation_email_to_a_customer_links_the_account_page_in_their_language(
    portal, account, program
):
    make_customer("clara@example.com", first_name="Clara", language="en")
    account_invite(account=account, email="clara@example.com", role="viewer")
    assert sweep_account_invitations_task() == 1  # the sweeper sends it (eager tasks)
    [message] = mail.outbox
    assert f"/en/portal/shared-account/?program={program.slug}" in message.body
    assert "Hello Clara" in message.body


def test_a_new_address_signs_up_from_the_email_confirms_and_joins(
    client, account, program, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, _ = account_invite(account=account, email="clara@example.com", role="buyer")
    signup = re.search(r"https?://\S+", mail.outbox[0].body).group(0)
    assert signup.endswith(f"/portal/join/{program.slug}/")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            signup,
            {
                "first_name": "Clara",
                "last_name": "Neu",
                "email": "clara@example.com",
                "password": "kaffee-und-kuchen-42",
                "language": "de",
                "terms": "on",
            },
        )
    overview = client.get("/portal/").content.decode()
    answer = f"/portal/shared-account/invitations/{invitation.pk}/"
    assert f'href="{answer}"' in overview  # the invitation waits on her overview
    assert 'data-testid="join-blocked"' in client.get(answer).content.decode()
    client.get(re.search(r"https?://\S+", mail.outbox[-1].body).group(0))  # confirms
    client.post(answer, {"action": "accept"})
    assert (
        AccountMember.objects.get(membership__customer__email="clara@example.com").role == "buyer"
    )


def test_a_failed_invitation_email_is_retried_later(portal, account, monkeypatch):
    import smtplib

    from programs.services import account_invitation_emails

    def down(**kwargs):
        raise smtplib.SMTPServerDisconnected("mail server down")

    monkeypatch.setattr(account_invitation_emails, "email_send", down)
    invitation, _ = account_invite(account=account, email="clara@example.com", role="buyer")
    sweep_account_invitations_task()
    invitation.refresh_from_db()
    assert (invitation.email_state, invitation.email_attempts) == ("pending", 1)
    assert "mail server down" in invitation.email_last_error
    assert account_invitation_emails_due() == []  # not before its backoff
    later = timezone.now() + timezone.timedelta(minutes=2)
    assert account_invitation_emails_due(later) == [invitation.pk]
    monkeypatch.undo()
    account_invitation_emails.account_invitation_emails_send([invitation.pk], now=later)
    invitation.refresh_from_db()
    assert invitation.email_state == "sent"
    assert len(mail.outbox) == 1


def test_withdrawn_invitation_is_not_mailed(portal, account):
    invitation, _ = account_invite(account=account, email="clara@example.com", role="buyer")
    response = portal.post(PAGE, {"action": "revoke", "invitation": invitation.pk})
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.REVOKED
    sweep_account_invitations_task()
    assert mail.outbox == []


def test_invite_errors_are_form_errors(portal, account):
    portal.post(PAGE, {"action": "invite", "email": "clara@example.com", "role": "buyer"})
    again = portal.post(PAGE, {"action": "invite", "email": "clara@example.com", "role": "buyer"})
    assert again.status_code == 200
    assert "clara@example.com" in str(again.context["invite_form"].errors["email"])
    wrong_role = portal.post(
        PAGE, {"action": "invite", "email": "dora@example.com", "role": "head"}
    )
    assert wrong_role.status_code == 200
    assert wrong_role.context["invite_form"].errors["role"]
    assert AccountInvitation.objects.count() == 1


def test_a_buyer_cannot_invite_or_manage_members(client, account, membership):
    bernd = _join(account, "bernd@example.com", "Bernd", AccountRole.BUYER)
    client = _signed_in(client, bernd)
    page = client.get(PAGE)
    assert "invite_form" not in page.context
    response = client.post(
        PAGE, {"action": "invite", "email": "clara@example.com", "role": "buyer"}, follow=True
    )
    assert not AccountInvitation.objects.exists()
    assert _de("Only the account's owner or head of household manages members.") in _text(response)
    owner = AccountMember.objects.get(membership=membership)
    client.post(f"/portal/shared-account/members/{owner.pk}/", {"action": "remove"}, follow=True)
    owner.refresh_from_db()
    assert owner.left_at is None


def test_owner_changes_a_role_and_limit_and_removes_a_member(portal, account):
    bernd = _join(account, "bernd@example.com", "Bernd", AccountRole.BUYER)
    row = AccountMember.objects.get(membership=bernd)
    url = f"/portal/shared-account/members/{row.pk}/"
    assert portal.get(url).status_code == 200
    portal.post(url, {"action": "update", "role": "viewer", "monthly_limit": "500"})
    row.refresh_from_db()
    assert (row.role, row.monthly_limit) == ("viewer", 500)
    portal.post(url, {"action": "remove"})
    row.refresh_from_db()
    assert row.left_at is not None
    bernd.refresh_from_db()
    assert bernd.pool_id is None


def test_the_last_owner_cannot_hand_away_the_role_form_error(portal, account, membership):
    _join(account, "bernd@example.com", "Bernd", AccountRole.BUYER)
    own = AccountMember.objects.get(membership=membership)
    response = portal.post(
        f"/portal/shared-account/members/{own.pk}/", {"action": "update", "role": "buyer"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["role"]
    own.refresh_from_db()
    assert own.role == "owner"


def test_invited_customer_sees_the_rule_then_accepts_and_earns_into_the_account(
    client, account, buy
):
    clara = make_customer("clara@example.com", first_name="Clara")
    invitation, _ = account_invite(account=account, email="Clara@Example.com", role="buyer")
    client.force_login(clara.user)
    overview = client.get(PAGE)
    assert overview.context["invitations"] == [invitation]
    assert f'href="/portal/shared-account/invitations/{invitation.pk}/"' in _text(overview)
    page = client.get(f"/portal/shared-account/invitations/{invitation.pk}/")
    assert page.status_code == 200
    assert 'data-testid="join-rule"' in page.content.decode()
    response = client.post(
        f"/portal/shared-account/invitations/{invitation.pk}/", {"action": "accept"}
    )
    assert response.status_code == 302
    member = AccountMember.objects.get(account=account, membership__customer=clara)
    assert member.role == "buyer"
    buy(member.membership, "40.00")
    account.holder.refresh_from_db()
    assert account.holder.pending == 40  # her purchase earned into the account
    assert client.get(PAGE).context["member"] == member


def test_unconfirmed_address_cannot_accept(client, account):
    clara = make_customer("clara@example.com", first_name="Clara")
    EmailConfirmation.objects.create(user=clara.user, email=clara.email)
    invitation, _ = account_invite(account=account, email="clara@example.com", role="buyer")
    client.force_login(clara.user)
    client.post(f"/portal/shared-account/invitations/{invitation.pk}/", {"action": "accept"})
    assert not AccountMember.objects.filter(membership__customer=clara).exists()


def test_an_invitation_to_another_address_is_not_found(portal, account):
    invitation, _ = account_invite(account=account, email="clara@example.com", role="buyer")
    assert portal.get(f"/portal/shared-account/invitations/{invitation.pk}/").status_code == 404
    portal.post(f"/portal/shared-account/invitations/{invitation.pk}/", {"action": "accept"})
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.OPEN


def test_decline(client, account):
    clara = make_customer("clara@example.com", first_name="Clara")
    invitation, _ = account_invite(account=account, email="clara@example.com", role="buyer")
    client.force_login(clara.user)
    client.post(f"/portal/shared-account/invitations/{invitation.pk}/", {"action": "decline"})
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.DECLINED


def test_leave_states_the_rule_before_and_points_stay_with_the_account(client, account, buy):
    bernd = _join(account, "bernd@example.com", "Bernd", AccountRole.BUYER)
    buy(bernd, "80.00")
    client = _signed_in(client, bernd)
    confirm = _text(client.get("/portal/shared-account/leave/"))
    assert 'data-testid="leave-rule"' in confirm
    assert AccountMember.objects.get(membership=bernd).left_at is None  # GET changes nothing
    client.post("/portal/shared-account/leave/")
    assert AccountMember.objects.get(membership=bernd).left_at is not None
    bernd.refresh_from_db()
    assert bernd.pool_id is None
    account.holder.refresh_from_db()
    assert account.holder.pending == 80  # what he earned stays
    buy(bernd, "10.00")
    bernd.refresh_from_db()
    assert bernd.pending == 10  # now he earns on his own


def test_the_last_owner_cannot_leave_while_others_remain(portal, account, membership):
    _join(account, "bernd@example.com", "Bernd", AccountRole.BUYER)
    response = portal.post("/portal/shared-account/leave/", follow=True)
    assert response.status_code == 200
    assert AccountMember.objects.get(membership=membership).left_at is None


@pytest.fixture
def funded(account, membership, buy):
    """The account holds 300 available points, earned by Anna."""
    buy(membership, "300.00", days_ago=20)
    points_release_due(timezone.now())
    account.holder.refresh_from_db()
    return account


def _redeem_from_account(client, reward):
    page = client.get(f"/portal/rewards/{reward.pk}/redeem/?from=account")
    return client.post(
        f"/portal/rewards/{reward.pk}/redeem/",
        {"token": page.context["token"], "from": "account"},
        follow=True,
    )


def test_a_viewer_sees_why_and_cannot_redeem_from_the_pool(client, funded, reward, buy):
    vera = membership_enroll(customer=make_customer("vera@example.com"), program=funded.program)[0]
    buy(vera, "200.00", days_ago=20)  # her own points, from before she joined
    points_release_due(timezone.now())
    account_member_add(account=funded, membership=vera, role=AccountRole.VIEWER)
    client = _signed_in(client, vera)
    rewards = client.get("/portal/rewards/?from=account")
    assert 'data-testid="viewer-note"' in rewards.content.decode()
    assert not rewards.context["from_account"]
    response = _text(_redeem_from_account(client, reward))
    assert not Redemption.objects.exists()  # neither from the account nor from her own
    assert _de("As a viewer you can see the account's points but not redeem them.") in response
    funded.holder.refresh_from_db()
    vera.refresh_from_db()
    assert (funded.holder.balance, vera.balance) == (300, 200)


def test_a_buyer_redeems_from_the_pool_within_the_monthly_limit(client, funded, reward):
    bernd = _join(funded, "bernd@example.com", "Bernd", AccountRole.BUYER)
    AccountMember.objects.filter(membership=bernd).update(monthly_limit=200)
    client = _signed_in(client, bernd)
    shelves = client.get("/portal/rewards/?from=account").context["shelves"]
    assert [o.reward for o in shelves.now] == [reward]
    response = _redeem_from_account(client, reward)
    redemption = Redemption.objects.get()
    assert (redemption.membership_id, redemption.placed_by_id) == (funded.holder_id, bernd.pk)
    assert redemption.voucher_code in response.content.decode()  # his voucher page
    again = _text(_redeem_from_account(client, reward))
    assert Redemption.objects.count() == 1
    limit = _de(
        "You may redeem %(limit)s points a month from the account; %(used)s are "
        "used this month, so %(left)s are left.",
        limit=200,
        used=150,
        left=50,
    )
    assert limit in again


def test_giving_points_to_the_account_is_idempotent_per_form(client, account, buy):
    bernd = membership_enroll(customer=make_customer("bernd@example.com"), program=account.program)[
        0
    ]
    buy(bernd, "100.00", days_ago=20)  # his own points, from before he joined
    points_release_due(timezone.now())
    account_member_add(account=account, membership=bernd, role=AccountRole.BUYER)
    client = _signed_in(client, bernd)
    key = str(uuid.uuid4())
    data = {"recipient": "account", "points": "60", "key": key}
    client.post("/portal/give-points/", data)
    client.post("/portal/give-points/", data)  # the same form sent twice
    transfer = Transfer.objects.get()
    assert (transfer.recipient_id, transfer.points) == (account.holder_id, 60)
    bernd.refresh_from_db()
    assert bernd.balance == 40
    too_many = client.post(
        "/portal/give-points/", {"recipient": "account", "points": "500", "key": uuid.uuid4()}
    )
    assert too_many.status_code == 200
    assert too_many.context["form"].errors["points"]
    assert Transfer.objects.count() == 1


def test_giving_to_an_unknown_card_number_is_a_form_error(portal, membership, program):
    program.transfers_enabled = True
    program.save(update_fields=["transfers_enabled"])
    response = portal.post(
        "/portal/give-points/",
        {"recipient": "card", "card_number": "0000 0000", "points": "5", "key": uuid.uuid4()},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["card_number"]


def test_giving_points_by_card_number_to_another_member(
    portal, membership, other_membership, program, buy
):
    program.transfers_enabled = True
    program.transfer_min_age_days = 0
    program.save(update_fields=["transfers_enabled", "transfer_min_age_days"])
    buy(membership, "100.00", days_ago=20)
    points_release_due(timezone.now())
    card = other_membership.card_number
    spaced = " ".join(card[i : i + 4] for i in range(0, len(card), 4))
    response = portal.post(
        "/portal/give-points/",
        {"recipient": "card", "card_number": spaced, "points": "30", "key": uuid.uuid4()},
    )
    assert response.status_code == 302
    other_membership.refresh_from_db()
    assert other_membership.balance == 30
    history = portal.get("/portal/give-points/")
    assert [line["other"] for line in history.context["transfers"]] == ["Bernd Schmidt"]
