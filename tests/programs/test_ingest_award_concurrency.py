"""Batch ingest and awarding of the same members at the same time, on real PostgreSQL with
real threads: no deadlock, no 5xx, nothing lost.

The ingest's COMMIT checks its purchases' foreign keys and so takes ``FOR KEY SHARE`` on
their memberships, in the order of the batch's items; the award locks the same
memberships in id order. Items in random order make the two meet in opposite orders, as
they did in production (issue 15, item 5).
"""

import random
import threading
import uuid

import pytest

from programs.models import Membership, PartnerCustomer, Purchase, PurchaseStatus
from programs.services.memberships import membership_enroll
from programs.services.purchases import purchases_award
from programs.tasks import award_purchases_task
from tests.api.conftest import client_for
from tests.factories import CustomerFactory
from tests.programs.test_concurrency import run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True)]

MEMBERS = 200
BATCHES = 50  # in all, over the ingest threads
INGESTERS = 2
AWARDERS = 2  # as a worker's processes: one award waits for another while ingest commits


@pytest.fixture
def members(program, partner) -> list[str]:
    external_ids = []
    for n in range(MEMBERS):
        membership, _ = membership_enroll(customer=CustomerFactory(), program=program)
        PartnerCustomer.objects.create(
            partner=partner, customer=membership.customer, external_id=f"c-{n}"
        )
        external_ids.append(f"c-{n}")
    return external_ids


def test_batches_ingested_while_the_same_members_are_awarded_all_succeed(
    members, partner, monkeypatch
):
    # The award messages are dropped: the awarding thread below plays the worker, awarding
    # whatever is received while the batches keep coming.
    monkeypatch.setattr(award_purchases_task, "delay", lambda ids: None)
    clients = [client_for(partner) for _ in range(INGESTERS)]
    ingesting = threading.Barrier(INGESTERS + 1)
    finished = threading.Event()
    answers: list[int] = []

    def ingest(i: int) -> int:
        rng = random.Random(i)
        for n in range(i, BATCHES, INGESTERS):
            items = [
                {"member": external_id, "order_id": f"{n}-{external_id}", "amount": "12.50"}
                for external_id in rng.sample(members, len(members))
            ]
            headers = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())} if n % 2 else {}
            response = clients[i].post(
                "/api/v1/purchases/batch", {"purchases": items}, format="json", **headers
            )
            answers.append(response.status_code)
            assert response.status_code == 200, response.content
            assert response.json()["summary"]["created"] == len(members)
        return n

    def award(k: int) -> int:
        rounds = 0
        while not finished.is_set():
            received = Purchase.objects.filter(status=PurchaseStatus.RECEIVED)
            purchases_award([pk for pk in received.values_list("pk", flat=True) if pk % 2 == k])
            rounds += 1
        return rounds

    def work(i: int):
        if i < INGESTERS:
            try:
                return ingest(i)
            finally:
                ingesting.wait(timeout=120)
        if i == INGESTERS:
            done = threading.Thread(target=lambda: (ingesting.wait(timeout=120), finished.set()))
            done.start()
        return award(i - INGESTERS)

    outcomes = run_concurrently(INGESTERS + AWARDERS, work)

    assert [value for status, value in outcomes if status == "error"] == []
    assert len(answers) == BATCHES
    assert set(answers) == {200}
    assert all(rounds > 1 for _, rounds in outcomes[INGESTERS:])  # awarded while ingesting
    purchases_award(Purchase.objects.values_list("pk", flat=True))
    assert Purchase.objects.count() == BATCHES * MEMBERS
    assert Purchase.objects.filter(status=PurchaseStatus.AWARDED).count() == BATCHES * MEMBERS
    earned = {m.pk: m.lifetime_earned for m in Membership.objects.all()}
    awarded = dict.fromkeys(earned, 0)
    for membership_id, points in Purchase.objects.values_list("membership_id", "points_awarded"):
        awarded[membership_id] += points
    assert earned == awarded
    assert len(set(earned.values())) == 1
    assert min(earned.values()) > 0
