"""The Celery application: configured from Django settings (CELERY_*), tasks autodiscovered.

The beat schedule is declared here, in code, so that every deployment runs the same jobs.
"""

import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import worker_init, worker_process_init
from django.conf import settings

from loyalty_site.queues import worker_autogroup_nice_apply, worker_nice_apply
from loyalty_site.startup import startup_objects_freeze

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_site.settings")

app = Celery("loyalty_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@worker_process_init.connect
def worker_priority_lower(**kwargs) -> None:
    """Workers yield the CPU to web requests: the worker, before it forks its pool, and each
    pool process run at WORKER_NICE (settings; 0 leaves the priority as it is); so does the
    worker's session, when the worker leads one of its own (``worker_autogroup_nice_apply``)."""
    worker_nice_apply(settings.WORKER_NICE)
    worker_autogroup_nice_apply(settings.WORKER_NICE)


@worker_process_init.connect
def worker_objects_freeze(**kwargs) -> None:
    """A pool process has loaded the project and every task module: keep what it loaded
    out of the garbage collector's full collections (``loyalty_site.startup``)."""
    startup_objects_freeze()


app.conf.beat_schedule = {
    "worker-heartbeat": {
        "task": "loyalty_site.tasks.heartbeat_task",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    "broker-delete-delivered": {
        "task": "loyalty_site.tasks.delete_delivered_messages_task",
        "schedule": crontab(minute="*/10"),
    },
    "purchases-sweep": {
        "task": "programs.tasks.sweep_received_purchases_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "points-release": {
        "task": "programs.tasks.release_pending_points_task",
        "schedule": crontab(minute="*/15"),
    },
    "points-holds-expire": {
        "task": "programs.tasks.expire_points_holds_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "points-expire": {
        "task": "programs.tasks.expire_points_task",
        "schedule": crontab(hour=2, minute=10),
    },
    "tiers-close-periods": {
        "task": "programs.tasks.close_tier_periods_task",
        "schedule": crontab(hour=2, minute=40),
    },
    "account-tiers-refresh": {
        "task": "programs.tasks.refresh_account_tiers_task",
        "schedule": crontab(hour=2, minute=55),
    },
    "occasions-award": {
        "task": "programs.tasks.award_occasions_task",
        "schedule": crontab(hour=7, minute=0),
    },
    "referrals-release": {
        "task": "programs.tasks.release_referral_rewards_task",
        "schedule": crontab(minute="*/30"),
    },
    "webhooks-sweep": {
        "task": "programs.api.tasks.sweep_webhook_deliveries_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "imports-sweep": {
        "task": "programs.tasks.imports_sweep_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "exports-purge": {
        "task": "programs.tasks.export_files_purge_task",
        "schedule": crontab(hour=4, minute=10),
    },
    "idempotency-purge": {
        "task": "programs.api.tasks.purge_idempotency_records_task",
        "schedule": crontab(hour=4, minute=0),
    },
    "api-keys-expiring": {
        "task": "programs.api.tasks.announce_expiring_api_keys_task",
        "schedule": crontab(hour=9, minute=0),
    },
    "surveys-send": {
        "task": "surveys.tasks.send_due_invitations_task",
        "schedule": crontab(minute="*/10"),
    },
    "surveys-after-purchase": {
        "task": "surveys.tasks.invite_after_purchases_task",
        "schedule": crontab(hour=10, minute=0),
    },
    "surveys-remind": {
        "task": "surveys.tasks.send_reminders_task",
        "schedule": crontab(hour=10, minute=30),
    },
    "metrics-member-value": {
        "task": "surveys.tasks.fit_member_value_task",
        "schedule": crontab(hour=3, minute=15),
    },
    "metrics-snapshots": {
        "task": "surveys.tasks.build_snapshots_task",
        "schedule": crontab(hour=4, minute=30),
    },
    "notification-emails-sweep": {
        "task": "programs.notifications.tasks.sweep_notification_emails_task",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    "account-invitations-sweep": {
        "task": "programs.tasks.sweep_account_invitations_task",
        "schedule": crontab(minute="*/5"),
        "options": {"expires": 290},
    },
    "points-expiry-warnings": {
        "task": "programs.notifications.tasks.warn_expiring_points_task",
        "schedule": crontab(hour=9, minute=0),
    },
    "tier-progress-sweep": {
        "task": "programs.notifications.tasks.sweep_tier_progress_task",
        "schedule": crontab(hour=8, minute=30),
    },
    "engagement-recompute": {
        "task": "surveys.engagement.tasks.recompute_engagement_task",
        "schedule": crontab(hour=3, minute=0),
    },
    "retention-anonymise": {
        "task": "programs.tasks.anonymise_inactive_customers_task",
        "schedule": crontab(hour=1, minute=30),
    },
    "ledger-reconcile": {
        "task": "programs.tasks.reconcile_ledger_task",
        "schedule": crontab(hour=3, minute=30),
    },
}
