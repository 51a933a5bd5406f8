from datetime import timedelta

from celery import shared_task

from loyalty_site.broker import delivered_messages_delete
from loyalty_site.health import record_worker_heartbeat

DELIVERED_MESSAGES_KEPT = timedelta(hours=1)


@shared_task(ignore_result=True)
def heartbeat_task() -> None:
    """Tell /healthz that a worker (and beat, which schedules this) is alive."""
    record_worker_heartbeat()


@shared_task(bind=True, ignore_result=True)
def delete_delivered_messages_task(self) -> int:
    """Keep the database broker's table small: kombu never deletes what it delivered."""
    return delivered_messages_delete(app=self.app, older_than=DELIVERED_MESSAGES_KEPT)
