"""A link confirmed twice at once (two portal tabs, a double tap): real PostgreSQL, real
threads. The claim's row lock lets one merge through; the other is told it was answered,
and the points move once."""

import pytest

from programs.models import EntryKind, LedgerEntry, LinkClaim, Membership
from programs.services.link_claims import ClaimClosed, claim_confirm
from programs.services.memberships import membership_enroll
from programs.services.partner_members import partner_member_upsert
from tests.factories import CustomerFactory
from tests.programs.bookkeeping import assert_books_balance
from tests.programs.test_concurrency import (
    errors_of,
    only_domain_errors,
    results_of,
    run_concurrently,
)

pytestmark = [pytest.mark.django_db(transaction=True)]

TABS = 6


def test_confirming_one_link_in_several_tabs_at_once_merges_once(program, tiers, partner, buy):
    erika = CustomerFactory(email="erika@example.com")
    hers, _ = membership_enroll(customer=erika, program=program)
    buy(hers, "100.00")
    upsert = partner_member_upsert(
        partner=partner,
        external_id="k-1",
        fields={"email": "erika@example.com"},
        programs=[program],
    )
    buy(Membership.objects.get(customer=upsert.link.customer), "40.00")
    claim = LinkClaim.objects.get()
    hers.refresh_from_db()
    before = hers.balance + hers.pending

    outcomes = run_concurrently(TABS, lambda i: claim_confirm(claim_id=claim.pk, customer=erika).pk)

    only_domain_errors(outcomes, ClaimClosed)
    assert len(results_of(outcomes)) == 1
    assert len(errors_of(outcomes)) == TABS - 1
    hers.refresh_from_db()
    assert hers.balance + hers.pending == before + 40
    assert LedgerEntry.objects.filter(kind=EntryKind.MERGE_IN).count() == 1
    assert_books_balance(hers)
