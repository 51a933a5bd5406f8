from celery import shared_task

from loyalty_site.health import record_worker_heartbeat


@shared_task(ignore_result=True)
def heartbeat_task() -> None:
    """Tell /healthz that a worker (and beat, which schedules this) is alive."""
    record_worker_heartbeat()
