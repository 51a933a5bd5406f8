"""Invitations: global cool-down, per-survey recontact interval, segments, after purchase."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from programs.models import MembershipStatus, PartnerCustomer
from surveys.errors import InvitationThrottled, SurveyInactive
from surveys.models import Channel, Invitation, SurveyKind
from surveys.services.invitations import (
    invitation_create,
    invitations_after_purchases,
    invitations_for_segment,
)
from surveys.services.surveys import survey_create
from tests.factories import engagement_scored

pytestmark = pytest.mark.django_db


def invite(survey, membership, now=None):
    return invitation_create(survey=survey, membership=membership, channel=Channel.STAFF, now=now)


def test_invitation_mails_the_signed_link_in_the_customers_language(
    nps_survey, member, django_capture_on_commit_callbacks
):
    english = member(language="en", first_name="John")
    with django_capture_on_commit_callbacks(execute=True):
        invitation = invite(nps_survey, english)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [english.customer.email]
    assert "Hello John" in message.body
    assert f"/en/umfrage/{invitation.pk}:" in message.body
    invitation.refresh_from_db()
    assert invitation.sent_at is not None


def test_german_customer_gets_a_german_mail_without_language_prefix(
    nps_survey, membership, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation = invite(nps_survey, membership)
    body = mail.outbox[0].body
    assert "Hallo Erika" in body
    assert f"/umfrage/{invitation.pk}:" in body
    assert "/en/" not in body


def test_second_invitation_within_the_global_cool_down_is_refused_with_a_reason(
    program, nps_survey, membership
):
    csat = survey_create(program=program, kind=SurveyKind.CSAT, name="CSAT")
    now = timezone.now()
    invite(nps_survey, membership, now=now - timedelta(days=6))
    with pytest.raises(InvitationThrottled) as caught:
        invite(csat, membership, now=now)
    assert "7" in caught.value.details["reason"]
    invite(csat, membership, now=now + timedelta(days=1, minutes=1))  # day 7 + 1 minute
    assert Invitation.objects.count() == 2


def test_same_survey_waits_for_its_recontact_interval(nps_survey, membership):
    start = timezone.now() - timedelta(days=200)
    invite(nps_survey, membership, now=start)
    with pytest.raises(InvitationThrottled) as caught:
        invite(nps_survey, membership, now=start + timedelta(days=89))
    assert "90" in caught.value.details["reason"]
    invite(nps_survey, membership, now=start + timedelta(days=91))
    assert Invitation.objects.filter(membership=membership).count() == 2


def test_cool_down_is_per_customer_across_programs(nps_survey, membership, member):
    invite(nps_survey, membership)
    invite(nps_survey, member())  # another customer: fine
    assert Invitation.objects.count() == 2


def test_inactive_survey_or_member_is_refused(nps_survey, membership):
    membership.status = MembershipStatus.SUSPENDED
    membership.save()
    with pytest.raises(SurveyInactive):
        invite(nps_survey, membership)
    nps_survey.is_active = False
    nps_survey.save()
    with pytest.raises(SurveyInactive):
        invite(nps_survey, membership)


def test_segment_invites_only_the_tier_and_skips_throttled_customers(
    nps_survey, member, tiers, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    gold = tiers["Gold"] if "Gold" in tiers else list(tiers.values())[-1]
    members = [member() for _ in range(6)]
    for m in members[:4]:
        m.tier = gold
        m.save()
    invite(nps_survey, members[0])  # throttled afterwards
    mail.outbox.clear()
    with django_assert_max_num_queries(8):
        result = invitations_for_segment(survey=nps_survey, tier=gold)
    assert (result.matched, result.invited, result.throttled) == (4, 3, 1)
    invited = set(
        Invitation.objects.filter(channel=Channel.STAFF).values_list("membership", flat=True)
    )
    assert members[4].pk not in invited
    assert members[1].pk in invited
    with django_capture_on_commit_callbacks(execute=True):
        invitations_for_segment(survey=nps_survey, tier=gold)  # all throttled now
    assert Invitation.objects.count() == 4


def test_segment_by_partner(nps_survey, member, partner):
    linked, other = member(), member()
    PartnerCustomer.objects.create(partner=partner, customer=linked.customer, external_id="x1")
    result = invitations_for_segment(survey=nps_survey, partner=partner)
    assert (result.matched, result.invited) == (1, 1)
    invitation = Invitation.objects.get()
    assert (invitation.membership, invitation.partner) == (linked, partner)
    assert not Invitation.objects.filter(membership=other).exists()


def test_after_purchase_invites_once_after_the_delay(nps_survey, member, buy, settings):
    settings.SURVEY_PURCHASE_DELAY_DAYS = 3
    nps_survey.after_purchase = True
    nps_survey.save()
    now = timezone.now()
    buyer, recent, nobody = member(), member(), member()
    purchase = buy(buyer, occurred_at=now - timedelta(days=4))
    buy(recent, occurred_at=now - timedelta(days=1))  # too recent: later
    assert invitations_after_purchases(now=now) == 1
    assert invitations_after_purchases(now=now) == 0  # a second run adds nothing
    invitation = Invitation.objects.get()
    assert (invitation.membership, invitation.purchase, invitation.channel) == (
        buyer,
        purchase,
        Channel.PURCHASE,
    )
    assert invitation.partner == purchase.partner
    assert not Invitation.objects.filter(membership__in=[recent, nobody]).exists()


def test_segment_by_engagement_band(admin_client, nps_survey, member):
    engaged, lukewarm = member(), member()
    member()  # no score
    for membership, score in ((engaged, "82.00"), (lukewarm, "35.00")):
        engagement_scored(membership, score)
    url = f"/admin/surveys/survey/{nps_survey.pk}/segment/"
    reply = admin_client.post(url, {"tier": "", "partner": "", "engagement": "4"})
    assert reply.status_code == 302
    assert list(Invitation.objects.values_list("membership", flat=True)) == [engaged.pk]
