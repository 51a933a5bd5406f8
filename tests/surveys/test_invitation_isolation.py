"""An invitation whose e-mail cannot be built does not hold up the others: it is logged
and left unsent, and the rest go out."""

import pytest
from django.core import mail

from programs.models import Membership
from surveys.models import Invitation
from surveys.services.invitations import invitations_for_segment
from surveys.tasks import send_due_invitations_task

pytestmark = pytest.mark.django_db


def test_an_invitation_that_cannot_be_mailed_does_not_stop_the_others(nps_survey, member):
    members = [member() for _ in range(3)]
    invitations_for_segment(survey=nps_survey)
    broken = Membership.objects.get(pk=members[1].pk).customer
    # a header injection the database let through: Django refuses to build the e-mail
    type(broken).objects.filter(pk=broken.pk).update(email="x@example.com\nBcc: y@example.com")

    assert send_due_invitations_task() == 2

    assert len(mail.outbox) == 2
    unsent = Invitation.objects.get(sent_at__isnull=True)
    assert unsent.customer_id == broken.pk
    assert send_due_invitations_task() == 0  # tried again, still refused, nothing else held
