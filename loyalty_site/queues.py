"""Celery queues by kind of work, and the lower CPU priority of worker processes.

Every task of ours is routed by name to one queue (``ROUTES``; a test fails when a task has
none), so a worker started for some queues only (``celery worker -Q awards``) takes only
that work: an award never waits behind e-mails, webhooks, an import or a nightly job.
A worker started without ``-Q`` consumes every queue (``CELERY_TASK_QUEUES``).

- ``awards``: awarding purchases and the sweeper that re-enqueues them, holds that expire:
  what a till or a member waits for;
- ``messages``: notification e-mails, tier progress notices, survey invitations, reminders;
- ``webhooks``: webhook deliveries and their sweeper;
- ``imports``: member imports (dry run, commit, sweeper) and exports;
- ``nightly``: scheduled batch work (expiry, tier periods, retention, reconcile, metrics,
  engagement, occasions, what-if runs, purges);
- ``celery`` (the default): the worker heartbeat and the database broker's clean-up.

This module is light: the settings import it.
"""

import os
from pathlib import Path

AWARDS = "awards"
MESSAGES = "messages"
WEBHOOKS = "webhooks"
IMPORTS = "imports"
NIGHTLY = "nightly"
DEFAULT = "celery"
ALL_QUEUES = (AWARDS, MESSAGES, WEBHOOKS, IMPORTS, NIGHTLY, DEFAULT)

ROUTES: dict[str, str] = {
    # awards
    "programs.tasks.award_purchases_task": AWARDS,
    "programs.tasks.sweep_received_purchases_task": AWARDS,
    "programs.tasks.expire_points_holds_task": AWARDS,
    # messages
    "programs.notifications.tasks.send_notification_emails_task": MESSAGES,
    "programs.notifications.tasks.sweep_notification_emails_task": MESSAGES,
    "programs.notifications.tasks.check_tier_progress_task": MESSAGES,
    "programs.notifications.tasks.sweep_tier_progress_task": MESSAGES,
    "programs.notifications.tasks.warn_expiring_points_task": MESSAGES,
    "programs.api.tasks.announce_expiring_api_keys_task": MESSAGES,
    "surveys.tasks.send_invitation_task": MESSAGES,
    "surveys.tasks.send_due_invitations_task": MESSAGES,
    "surveys.tasks.send_reminders_task": MESSAGES,
    "surveys.tasks.invite_after_purchases_task": MESSAGES,
    "programs.tasks.send_account_invitations_task": MESSAGES,
    "programs.tasks.sweep_account_invitations_task": MESSAGES,
    # webhooks
    "programs.api.tasks.deliver_webhooks_task": WEBHOOKS,
    "programs.api.tasks.sweep_webhook_deliveries_task": WEBHOOKS,
    # imports
    "programs.tasks.import_check_task": IMPORTS,
    "programs.tasks.import_commit_task": IMPORTS,
    "programs.tasks.imports_sweep_task": IMPORTS,
    "programs.tasks.export_job_task": IMPORTS,
    "programs.tasks.export_files_purge_task": IMPORTS,
    # nightly (scheduled batch work)
    "programs.tasks.release_pending_points_task": NIGHTLY,
    "programs.tasks.expire_points_task": NIGHTLY,
    "programs.tasks.close_tier_periods_task": NIGHTLY,
    "programs.tasks.refresh_account_tiers_task": NIGHTLY,
    "programs.tasks.release_referral_rewards_task": NIGHTLY,
    "programs.tasks.award_occasions_task": NIGHTLY,
    "programs.tasks.anonymise_inactive_customers_task": NIGHTLY,
    "programs.tasks.reconcile_ledger_task": NIGHTLY,
    "programs.tasks.what_if_run_task": NIGHTLY,
    "programs.api.tasks.purge_idempotency_records_task": NIGHTLY,
    "surveys.tasks.build_snapshots_task": NIGHTLY,
    "surveys.tasks.fit_member_value_task": NIGHTLY,
    "surveys.engagement.tasks.recompute_engagement_task": NIGHTLY,
    # default
    "loyalty_site.tasks.heartbeat_task": DEFAULT,
    "loyalty_site.tasks.delete_delivered_messages_task": DEFAULT,
}

MAX_NICE = 19


def queue_names(prefix: str = "") -> list[str]:
    """Every queue's name, each with ``prefix`` (tests give each run queues of its own)."""
    return [prefix + queue for queue in ALL_QUEUES]


def task_queues(prefix: str = "") -> dict[str, dict]:
    """``task_queues``: each queue bound to an exchange and routing key of its own name."""
    return {name: {"exchange": name, "routing_key": name} for name in queue_names(prefix)}


def task_routes(prefix: str = "") -> dict[str, dict]:
    """``task_routes``: task name -> its queue."""
    return {task: {"queue": prefix + queue} for task, queue in ROUTES.items()}


AUTOGROUP = Path("/proc/self/autogroup")


def worker_autogroup_nice_apply(nice: int) -> int | None:
    """Lower the CPU priority of this process's autogroup to ``nice``, when this process
    leads its session (started by systemd, a supervisor or ``setsid``), and never raise it.

    Linux with autogroup scheduling (``kernel.sched_autogroup_enabled=1``, the default of
    most distributions) shares the CPU fairly between sessions first and applies a
    process's nice value only within its session. A worker started in a session of its
    own therefore competes with the web server's session as an equal whatever its nice
    value: the bench measured balance reads at a quarter of the ``/healthz`` floor while
    niced workers drained awards. The autogroup's own nice value weighs the session as a
    whole. A worker that shares its session with the web server (``make run``) leaves it
    alone, since it would lower the web server too; there the process nice works.
    Returns the autogroup's nice value, or None where there is no autogroup to set."""
    if not nice or os.getsid(0) != os.getpid():
        return None
    try:
        current = int(AUTOGROUP.read_text().split()[-1])  # "/autogroup-42 nice 0"
        wanted = min(nice, MAX_NICE)
        if wanted > current:
            AUTOGROUP.write_text(str(wanted))
            return wanted
        return current
    except (OSError, ValueError, IndexError):
        return None  # no autogroup support, or not allowed: the process nice still applies


def worker_nice_apply(nice: int) -> int:
    """Lower this process's CPU priority to ``nice`` (0: leave it); never raise it, which
    needs privileges. Children forked afterwards (the pool) inherit it. Returns the value."""
    current = os.getpriority(os.PRIO_PROCESS, 0)
    wanted = min(nice, MAX_NICE)
    if nice and wanted > current:
        os.setpriority(os.PRIO_PROCESS, 0, wanted)
        return wanted
    return current
