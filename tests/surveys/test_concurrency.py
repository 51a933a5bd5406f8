"""Concurrent submits and invitations on real PostgreSQL with real threads."""

import pytest

from programs.models import LedgerEntry
from surveys.errors import InvitationThrottled, InvitationUnusable
from surveys.models import Channel, Invitation, Response
from surveys.services.invitations import invitation_create
from surveys.services.responses import response_submit
from tests.programs.test_concurrency import errors_of, results_of, run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_double_submit_records_one_response_and_credits_points_once(nps_survey, membership):
    invitation = invitation_create(survey=nps_survey, membership=membership, channel=Channel.STAFF)
    outcomes = run_concurrently(
        6, lambda i: response_submit(invitation_id=invitation.pk, answers={"recommend": i + 4})
    )
    assert len(results_of(outcomes)) == 1
    errors = errors_of(outcomes)
    assert len(errors) == 5
    assert all(isinstance(e, InvitationUnusable) for e in errors)
    assert all(e.details["reason"] == "used" for e in errors)
    assert Response.objects.filter(invitation=invitation).count() == 1
    membership.refresh_from_db()
    assert membership.balance == 50
    assert LedgerEntry.objects.filter(membership=membership).count() == 1


def test_concurrent_invitations_of_one_customer_pass_the_throttle_once(nps_survey, membership):
    outcomes = run_concurrently(
        5,
        lambda i: (
            invitation_create(survey=nps_survey, membership=membership, channel=Channel.PARTNER).pk
        ),
    )
    assert len(results_of(outcomes)) == 1
    assert all(isinstance(e, InvitationThrottled) for e in errors_of(outcomes))
    assert Invitation.objects.filter(membership=membership).count() == 1
