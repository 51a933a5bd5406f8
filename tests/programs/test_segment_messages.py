"""Staff write to a segment: each member gets the message in the portal feed; the e-mail
goes only to those who agreed to marketing e-mails, after the commit; an empty message
is a form error and writes nothing."""

import pytest
from django.urls import reverse
from django.utils import translation

from customers.models import CommunicationPreferences
from programs.models import Segment, SegmentCondition
from programs.notifications.kinds import EmailState, NotificationKind
from programs.notifications.models import Notification
from programs.notifications.texts import notification_message
from programs.services.memberships import membership_enroll
from tests.factories import CustomerFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def segment(program, tiers):
    members = []
    for tier, consent in (("Gold", True), ("Gold", False), ("Bronze", True)):
        membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
        membership.tier = tiers[tier]
        membership.save(update_fields=["tier"])
        CommunicationPreferences.objects.update_or_create(
            customer=membership.customer, defaults={"email_marketing": consent}
        )
        members.append(membership)
    segment = Segment.objects.create(program=program, name="Gold")
    SegmentCondition.objects.create(
        segment=segment, field="tier", operator="at_least", tier=tiers["Gold"]
    )
    segment.members = members
    return segment


@pytest.fixture
def staff_client(client):
    client.force_login(StaffFactory())
    return client


def test_staff_write_to_a_segment(staff_client, segment, django_capture_on_commit_callbacks):
    url = reverse("admin:programs_segment_message", args=[segment.pk])
    with translation.override("de"):
        page = staff_client.get(url)
    assert "2 Mitglieder" in page.content.decode()  # the two Gold members
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post(
            url,
            {
                "title": "Neue Röstung",
                "body": "Ab Freitag im Laden.",
                "title_en": "New roast",
                "body_en": "",
            },
        )
    assert response.status_code == 302
    sent = Notification.objects.filter(kind=NotificationKind.SEGMENT_MESSAGE)
    assert {n.membership_id for n in sent} == {m.pk for m in segment.members[:2]}
    states = {n.membership_id: n.email_state for n in sent}
    assert states[segment.members[0].pk] == EmailState.PENDING  # agreed to marketing
    assert states[segment.members[1].pk] == EmailState.SKIPPED  # did not
    assert callbacks  # the e-mail is enqueued only after the commit
    message = sent.get(membership=segment.members[0])
    with translation.override("de"):
        assert notification_message(message).title == "Neue Röstung"
    with translation.override("en"):
        # English title given, no English text: the German text
        assert notification_message(message).title == "New roast"
        assert notification_message(message).body == "Ab Freitag im Laden."


def test_an_empty_message_is_a_form_error(staff_client, segment):
    url = reverse("admin:programs_segment_message", args=[segment.pk])
    response = staff_client.post(url, {"title": "  ", "body": ""})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert not Notification.objects.exists()
