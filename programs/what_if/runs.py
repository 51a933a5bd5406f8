"""What-if runs: staff start one (``what_if_start``), the worker computes it in the
background (``what_if_run``, the task ``what_if_run_task``) and the page polls its status.

A run goes queued -> running -> done or failed. The worker claims it with a conditional
update, so a task delivered twice computes it once; whatever goes wrong while it computes
(a bad proposal, a database error, the task's time limit) is stored as the run's error.
A run that a killed worker left running, or that no worker ever picked up, is failed by
``what_if_runs_sweep`` (on every start and status read), so none stays running forever.
"""

import logging
import time
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from loyalty_site.core.commit import enqueue_after_commit
from programs.models import Program, WhatIfKind, WhatIfRun, WhatIfStatus
from programs.what_if.campaign import draft_campaign, what_if_campaign
from programs.what_if.summary import InvalidProposal
from programs.what_if.tiers import tier_proposal_clean, what_if_tiers

logger = logging.getLogger(__name__)

# The task, enqueued by name: the tasks module imports this one.
RUN_TASK = "programs.tasks.what_if_run_task"
RUN_SOFT_TIME_LIMIT = 20 * 60  # ten million purchases take about ten minutes
RUN_TIME_LIMIT = RUN_SOFT_TIME_LIMIT + 60
RUNNING_STALE_AFTER = timedelta(seconds=RUN_TIME_LIMIT + 5 * 60)
QUEUED_STALE_AFTER = timedelta(hours=1)
MAX_MONTHS = 36
COMPUTE = {WhatIfKind.TIERS: what_if_tiers, WhatIfKind.CAMPAIGN: what_if_campaign}


def what_if_start(
    *, program: Program, kind: str, proposal: dict, months: int, user=None
) -> WhatIfRun:
    """Record a run of ``proposal`` over the last ``months`` months and enqueue it after
    commit. The proposal is checked first (``InvalidProposal``): tier thresholds in
    ``tier_proposal_clean``'s form, a campaign in ``campaign.draft_data``'s."""
    if kind not in WhatIfKind.values:
        raise InvalidProposal(_("Unknown kind of what-if."))
    if not 1 <= months <= MAX_MONTHS:
        raise InvalidProposal(
            _("Replay between 1 and %(max)s months.") % {"max": MAX_MONTHS}, field="months"
        )
    if kind == WhatIfKind.TIERS:
        proposal = tier_proposal_clean(program, proposal)
    else:
        draft_campaign(program, proposal)
    what_if_runs_sweep()
    with transaction.atomic():
        run = WhatIfRun.objects.create(
            program=program, kind=kind, months=months, proposal=proposal, created_by=user
        )
        enqueue_after_commit(RUN_TASK, run.pk)
    return run


def what_if_run(run_id: int) -> WhatIfRun | None:
    """Compute a queued run; None if it is not queued (done already, or taken by another
    worker). The result, or the error, is stored on the run."""
    now = timezone.now()
    claimed = WhatIfRun.objects.filter(pk=run_id, status=WhatIfStatus.QUEUED).update(
        status=WhatIfStatus.RUNNING, started_at=now, progress=0
    )
    if not claimed:
        return None
    run = WhatIfRun.objects.select_related("program").get(pk=run_id)
    started = time.monotonic()
    try:
        result = COMPUTE[run.kind](
            run.program, run.proposal, run.months, progress=_progress_writer(run_id)
        )
    except Exception as error:  # stored on the run for staff to read; the worker goes on
        logger.exception("what-if run %s failed", run_id)
        _finish(run_id, status=WhatIfStatus.FAILED, error=_error_text(error))
    else:
        result["seconds"] = round(time.monotonic() - started, 1)
        _finish(run_id, status=WhatIfStatus.DONE, result=result, progress=100)
    run.refresh_from_db()
    return run


def what_if_runs_sweep(now=None) -> int:
    """Fail runs that can no longer finish: running past the task's time limit (a killed
    worker), or queued for an hour (no worker took the message). Returns how many."""
    now = now or timezone.now()
    stuck = WhatIfRun.objects.filter(
        status=WhatIfStatus.RUNNING, started_at__lt=now - RUNNING_STALE_AFTER
    ).update(
        status=WhatIfStatus.FAILED,
        finished_at=now,
        error=_("The run was interrupted (the worker stopped). Start it again."),
    )
    lost = WhatIfRun.objects.filter(
        status=WhatIfStatus.QUEUED, created_at__lt=now - QUEUED_STALE_AFTER
    ).update(
        status=WhatIfStatus.FAILED,
        finished_at=now,
        error=_("No worker started the run within an hour. Start it again."),
    )
    return stuck + lost


def _progress_writer(run_id: int):
    """Store the progress when it moves by a step (the stream reports every 5 %)."""
    shown = [0]

    def progress(done: int, total: int) -> None:
        percent = min(99, done * 100 // total) if total else 99
        if percent > shown[0]:
            shown[0] = percent
            WhatIfRun.objects.filter(pk=run_id, status=WhatIfStatus.RUNNING).update(
                progress=percent
            )

    return progress


def _finish(run_id: int, **fields) -> None:
    WhatIfRun.objects.filter(pk=run_id, status=WhatIfStatus.RUNNING).update(
        finished_at=timezone.now(), **fields
    )


def _error_text(error: Exception) -> str:
    if isinstance(error, InvalidProposal):
        return str(error.message)
    return f"{type(error).__name__}: {error}"[:2000]
