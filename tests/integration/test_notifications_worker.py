"""Notifications through a real Celery worker (Redis, PostgreSQL, not eager): a purchase
recorded as the partner API does is awarded by the worker, its tier upgrade becomes a
feed entry, and the e-mail is sent by a task enqueued after the award's commit.

The test's worker consumes only the test's own queues, while tasks enqueued by tasks go to
the deployed queues (messages, ...: the worker routes as in production); the test moves
them across to the test's queue of the same kind, as a production worker would take them."""

import pytest

from loyalty_site import queues
from programs.notifications.models import EmailState, Notification, NotificationKind
from programs.notifications.selectors import notifications_recent
from tests.integration.conftest import is_queue_key

pytestmark = [
    pytest.mark.redis,
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True),
]


def deployed_queue_keys(broker):
    """(kind, Redis list) of each deployed queue holding messages."""
    for kind in queues.ALL_QUEUES:
        for key in broker.redis.scan_iter(match=f"{kind}*"):
            if is_queue_key(key, kind) and broker.redis.type(key) == b"list":
                yield kind, key


@pytest.fixture
def follow_up(broker):
    """follow_up(): hand the tasks that tasks enqueued to the test's worker."""

    def purge() -> None:
        stale = [key for _, key in deployed_queue_keys(broker)]
        if stale:
            broker.redis.delete(*stale)

    purge()  # follow-up tasks of earlier tests, whose rows are gone

    def forward() -> None:
        for kind, key in deployed_queue_keys(broker):
            while broker.redis.rpoplpush(key, broker.name(kind)):
                pass

    yield forward
    purge()


def notified(membership, kind, **extra) -> bool:
    return Notification.objects.filter(membership=membership, kind=kind, **extra).exists()


def test_tier_upgrade_through_the_worker_is_notified_and_emailed(
    workers, enroll, record, follow_up
):
    workers.start()
    membership = enroll()
    record(membership, "460.00")  # 40 short of Silber (500): within 10 %

    def approaching_sent():
        follow_up()
        return notified(membership, NotificationKind.TIER_APPROACHING, email_state="sent")

    workers.wait_until(approaching_sent, "the 'Silber within reach' e-mail")

    record(membership, "60.00")

    def upgrade_sent():
        follow_up()
        return notified(membership, NotificationKind.TIER_UPGRADE, email_state="sent")

    workers.wait_until(upgrade_sent, "the upgrade's e-mail")
    feed = notifications_recent(membership.customer)
    kinds = [n.kind for n in feed]
    assert kinds == [NotificationKind.TIER_UPGRADE, NotificationKind.TIER_APPROACHING]
    assert all(n.email_state == EmailState.SENT and n.email_attempts == 1 for n in feed)
    workers.assert_clean()
