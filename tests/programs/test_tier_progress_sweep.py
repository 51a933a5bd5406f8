"""The daily sweep catches "next tier within reach" notices whose after-commit check was
lost (broker down at the commit), and never notifies twice."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerDown

from programs.notifications import tasks
from programs.notifications.models import Notification, NotificationKind
from programs.notifications.tasks import sweep_tier_progress_task, tier_progress_sweep_candidates
from tests.programs import conftest as engine

# The engine's fixtures: a program with Bronze/Silber/Gold/Platin, a partner, a member, buy().
program, tiers, partner, membership, buy = (
    engine.program,
    engine.tiers,
    engine.partner,
    engine.membership,
    engine.buy,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    def run(action, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return action(*args, **kwargs)

    return run


@pytest.fixture
def broker_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise BrokerDown("Connection refused")

    monkeypatch.setattr(tasks.check_tier_progress_task, "delay", refuse)


def approaching(membership):
    return list(
        Notification.objects.filter(membership=membership, kind=NotificationKind.TIER_APPROACHING)
    )


def test_sweep_notifies_once_when_the_after_commit_check_was_lost(
    membership, buy, committed, broker_down
):
    committed(buy, membership, "460.00")  # 40 short of Silber (500): within 10 %
    assert approaching(membership) == []  # the publish failed: the notice is lost
    assert sweep_tier_progress_task() == 1
    [notice] = approaching(membership)
    assert notice.params["tier"] == "Silber"
    assert Decimal(notice.params["missing"]) == Decimal("40.00")
    assert sweep_tier_progress_task() == 0
    assert len(approaching(membership)) == 1


def test_members_notified_since_their_last_earning_are_not_checked_again(
    membership, buy, committed
):
    committed(buy, membership, "460.00")  # broker up: notified after the commit
    assert len(approaching(membership)) == 1
    assert tier_progress_sweep_candidates(timezone.now()) == []


def test_a_new_earning_after_the_notice_makes_the_member_a_candidate_again(
    membership, buy, committed, broker_down
):
    committed(buy, membership, "460.00")
    sweep_tier_progress_task()
    committed(buy, membership, "1000.00")  # Silber reached; 40 short of Gold (1500)
    assert tier_progress_sweep_candidates(timezone.now()) == [membership.pk]
    assert sweep_tier_progress_task() == 1
    assert [n.params["tier"] for n in approaching(membership)] == ["Gold", "Silber"]


def test_earnings_older_than_a_day_are_left_to_the_after_commit_check(
    membership, buy, committed, broker_down
):
    committed(buy, membership, "460.00")
    two_days_later = timezone.now() + timedelta(days=2)
    assert tier_progress_sweep_candidates(two_days_later) == []


def test_members_far_from_the_next_tier_are_checked_but_not_notified(
    membership, buy, committed, broker_down
):
    committed(buy, membership, "100.00")  # 400 short of Silber
    assert tier_progress_sweep_candidates(timezone.now()) == [membership.pk]
    assert sweep_tier_progress_task() == 0
    assert approaching(membership) == []
