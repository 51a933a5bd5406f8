"""Settings of the Celery workers: the broker, task defaults and limits, the queues by
kind of work (``loyalty_site/queues.py``) and the workers' CPU priority. ``base`` takes
them with ``celery_settings`` (they depend on its database, Redis and time zone)."""

from django.core.exceptions import ImproperlyConfigured

from loyalty_site import queues as celery_queues
from loyalty_site.broker import DATABASE_BROKER_TRANSPORT, database_broker_url
from loyalty_site.env import env_int, env_str


def celery_settings(*, redis_url: str, database: dict, time_zone: str) -> dict:
    """Every ``CELERY_*`` setting and ``WORKER_NICE``, by name."""
    # The broker: CELERY_BROKER_URL, else REDIS_URL (CI, production), else the application's own
    # PostgreSQL through kombu's SQLAlchemy transport (loyalty_site/broker.py), so a fresh clone
    # needs no broker server. Its transport options go to SQLAlchemy's create_engine.
    CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or redis_url
    # Must exceed the longest task's hard time limit, or Redis redelivers a running task.
    _visibility_timeout = env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)
    if CELERY_BROKER_URL:
        CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": _visibility_timeout}
        if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
            # A Redis that does not answer (packets dropped, not refused) must not hold a
            # request: the after-commit enqueue gives up soon and the sweepers take over.
            CELERY_BROKER_TRANSPORT_OPTIONS.update(socket_connect_timeout=2, socket_timeout=5)
    else:
        CELERY_BROKER_URL = database_broker_url(database)
        CELERY_BROKER_TRANSPORT = DATABASE_BROKER_TRANSPORT
        CELERY_BROKER_TRANSPORT_OPTIONS = {
            "pool_pre_ping": True,
            "connect_args": {"connect_timeout": 5},
        }
    CELERY_TASK_SERIALIZER = "json"
    CELERY_RESULT_SERIALIZER = "json"
    CELERY_ACCEPT_CONTENT = ["json"]
    CELERY_TASK_IGNORE_RESULT = True
    CELERY_TASK_ACKS_LATE = True
    CELERY_TASK_REJECT_ON_WORKER_LOST = True
    CELERY_WORKER_PREFETCH_MULTIPLIER = 1
    CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300, minimum=1)
    CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360, minimum=1)
    CELERY_TIMEZONE = time_zone
    CELERY_WORKER_HIJACK_ROOT_LOGGER = False
    CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
    CELERY_TASK_ALWAYS_EAGER = False
    # Queues by kind of work (loyalty_site/queues.py): every task is routed by name. A worker
    # consumes CELERY_ALL_QUEUES unless started with -Q for some (docs/deploy.md).
    CELERY_ALL_QUEUES = ",".join(celery_queues.ALL_QUEUES)
    CELERY_TASK_DEFAULT_QUEUE = celery_queues.DEFAULT
    CELERY_TASK_QUEUES = celery_queues.task_queues()
    CELERY_TASK_ROUTES = celery_queues.task_routes()
    # Worker processes run at this CPU nice value, below web requests (0: unchanged; at most 19).
    WORKER_NICE = env_int("WORKER_NICE", 10, minimum=0)
    if WORKER_NICE > celery_queues.MAX_NICE:
        raise ImproperlyConfigured(f"WORKER_NICE={WORKER_NICE} is above {celery_queues.MAX_NICE}.")
    if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
        raise ImproperlyConfigured(
            "CELERY_TASK_SOFT_TIME_LIMIT must be less than CELERY_TASK_TIME_LIMIT, "
            "or tasks are killed without the chance to clean up."
        )
    if _visibility_timeout <= CELERY_TASK_TIME_LIMIT:
        raise ImproperlyConfigured(
            "CELERY_VISIBILITY_TIMEOUT must be greater than CELERY_TASK_TIME_LIMIT, "
            "or the broker hands a running task to a second worker."
        )
    return {
        name: value
        for name, value in locals().items()
        if name.startswith("CELERY_") or name == "WORKER_NICE"
    }
