"""/healthz: is the database reachable, is the broker reachable, is a worker alive?

Database and broker decide the status code (200 or 503). The worker is reported by the age
of its last heartbeat (a beat-scheduled task) but does not fail the check: a web node must
stay in rotation while workers restart.
"""

import time

from celery import current_app
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from loyalty_site.broker import database_broker_waiting

HEARTBEAT_KEY = "health:worker-heartbeat"
HEARTBEAT_STALE_AFTER = 120  # seconds; beat sends one every 30 s


def record_worker_heartbeat() -> None:
    cache.set(HEARTBEAT_KEY, time.time(), timeout=24 * 3600)


def _check_database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "vendor": connection.vendor}


def _check_broker() -> dict:
    try:
        with current_app.connection_for_write() as conn:
            # No retry: a probe must answer fast; a failure is reported as such.
            conn.ensure_connection(max_retries=0, timeout=2)
            if conn.transport.driver_type == "sql":
                database_broker_waiting(conn, current_app.conf.task_default_queue)
            transport = conn.transport.driver_name
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "transport": transport}


def _worker_status() -> dict:
    try:
        last = cache.get(HEARTBEAT_KEY)
    except Exception as exc:
        return {"alive": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    if last is None:
        return {"alive": False, "last_heartbeat_seconds_ago": None}
    age = round(time.time() - last, 1)
    return {"alive": age < HEARTBEAT_STALE_AFTER, "last_heartbeat_seconds_ago": age}


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _check_database(), "broker": _check_broker()}
    healthy = all(part["ok"] for part in checks.values())
    body = {
        "status": "ok" if healthy else "fail",
        "failed": [name for name, part in checks.items() if not part["ok"]],
        "checks": checks,
        "worker": _worker_status(),
    }
    return JsonResponse(body, status=200 if healthy else 503)
