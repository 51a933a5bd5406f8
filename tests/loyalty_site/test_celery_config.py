"""The Celery app's safety settings, and that every beat entry names a registered task."""

import pytest

from loyalty_site.broker import DATABASE_BROKER_TRANSPORT
from loyalty_site.celery import app


@pytest.fixture(scope="module")
def registered_tasks() -> set[str]:
    # What a worker does at start-up: import the autodiscovered tasks modules of every app.
    app.loader.import_default_modules()
    return set(app.tasks.keys())


def test_json_only():
    assert app.conf.task_serializer == "json"
    assert app.conf.result_serializer == "json"
    assert list(app.conf.accept_content) == ["json"]


def test_tasks_acknowledged_after_they_run():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True


def test_worker_prefetches_one_task():
    assert app.conf.worker_prefetch_multiplier == 1


def test_soft_time_limit_below_hard_limit():
    soft, hard = app.conf.task_soft_time_limit, app.conf.task_time_limit
    assert soft
    assert hard
    assert soft < hard


def test_visibility_timeout_exceeds_hard_time_limit():
    # Otherwise Redis hands a task that is still running to a second worker. The database
    # broker (without REDIS_URL) hands a message out once; its options go to create_engine.
    options = app.conf.broker_transport_options
    if app.conf.broker_transport == DATABASE_BROKER_TRANSPORT:
        assert "visibility_timeout" not in options
    else:
        assert options["visibility_timeout"] > app.conf.task_time_limit


def test_beat_schedule_is_not_empty():
    assert "worker-heartbeat" in app.conf.beat_schedule


def test_site_beat_tasks_are_registered(registered_tasks):
    site_tasks = {
        entry["task"]
        for entry in app.conf.beat_schedule.values()
        if entry["task"].startswith("loyalty_site.")
    }
    assert site_tasks == {
        "loyalty_site.tasks.heartbeat_task",
        "loyalty_site.tasks.delete_delivered_messages_task",
    }
    assert site_tasks <= registered_tasks


def test_every_beat_task_is_registered(registered_tasks):
    missing = sorted(
        entry["task"]
        for entry in app.conf.beat_schedule.values()
        if entry["task"] not in registered_tasks
    )
    assert missing == [], f"beat schedules tasks no app registers: {missing}"
