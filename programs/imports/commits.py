"""Confirming an import and writing it, chunk by chunk; cancelling; the sweeper that
resumes a job a killed worker left.

* ``import_confirm`` takes the fingerprint of the dry run the staff member (or partner)
  saw; ``import_commit`` first runs the dry run again and stops with the new one if the
  fingerprint differs (the data changed meanwhile), then writes chunk by chunk. Each chunk
  commits with the job's checkpoint (``line_done``), so a restarted worker continues
  after the last committed chunk; the rows' own keys make a chunk written twice write
  nothing new.
* Bad rows never stop the others: a chunk that fails is split (``batch_apply``) and the
  row that fails alone is recorded as a bad row of the import.
"""

import logging
import time

from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from loyalty_site.core.batches import batch_apply, failure_reason
from loyalty_site.core.commit import enqueue_after_commit
from programs.imports.context import Row
from programs.imports.dry_runs import (
    CHECK_TASK,
    KINDS,
    STALE_AFTER,
    Stopped,
    chunk_problems,
    dry_run,
    dry_run_ready,
    job_claim,
    job_context,
    job_failures,
    row_chunks,
)
from programs.imports.uploads import ImportConflict
from programs.models import ImportJob, ImportRowError, ImportStatus, Program
from programs.services.events import events_muted

logger = logging.getLogger(__name__)

# A commit task writes this long, then hands over to a new task (under the task time
# limit; a worker restart or deploy in between costs at most one chunk).
SLICE_SECONDS = 120
COMMIT_TASK = "programs.tasks.import_commit_task"


class _SliceUsed(Exception):
    """The task wrote for its time slice: the next task continues from the checkpoint."""


def import_confirm(job: ImportJob, *, digest: str) -> ImportJob:
    """Staff (or the partner) confirm the dry run they saw (its fingerprint)."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != ImportStatus.CHECKED:
            raise ImportConflict(
                _("This import is %(status)s; only a finished dry run can be confirmed.")
                % {"status": job.get_status_display()}
            )
        if digest != job.plan_digest:
            raise ImportConflict(
                _("The dry run was renewed since you looked at it; check the new one.")
            )
        if not job.summary.get("valid"):
            raise ImportConflict(_("The file has no row that could be imported."))
        job.status = ImportStatus.COMMITTING
        job.confirmed_digest = digest
        job.started_at = timezone.now()
        job.message = ""
        job.heartbeat_at = None
        job.save()
        enqueue_after_commit(COMMIT_TASK, job.pk)
    return job


def import_cancel(job: ImportJob) -> ImportJob:
    """Stop a job. Rows imported before stay (importing the file again continues)."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status in (ImportStatus.DONE, ImportStatus.FAILED, ImportStatus.CANCELLED):
            raise ImportConflict(_("This import has ended; there is nothing to cancel."))
        job.status = ImportStatus.CANCELLED
        job.cancel_requested = True
        job.finished_at = timezone.now()
        if job.rows_done:
            job.message = _(
                "Cancelled after %(done)s of %(total)s rows. The rows imported stay; "
                "importing the same file again continues with the others."
            ) % {"done": job.rows_done, "total": job.rows_total}
        job.save()
    return job


def import_commit(job_id: int) -> None:
    """Write a confirmed job, from its checkpoint on."""
    job = job_claim(job_id, ImportStatus.COMMITTING)
    if job is None:
        return
    with translation.override(job.language), events_muted(not job.notify):
        with job_failures(job, _("The import stopped: %s")) as outcome:
            unverified = job.line_done == 0 and not job.summary.get("verified")
            if unverified and not _verify(job):
                return
            try:
                _write(job, deadline=time.monotonic() + SLICE_SECONDS)
            except _SliceUsed:
                # Let the next task take over at once (no stale wait), after this commit.
                ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=None)
                enqueue_after_commit(COMMIT_TASK, job.pk)
                return
        if outcome.ended:
            return
    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.COMMITTING).update(
        status=ImportStatus.DONE, finished_at=timezone.now(), heartbeat_at=None
    )


def _verify(job: ImportJob) -> bool:
    """Run the dry run again: if it no longer matches what was confirmed, stop and show
    the new one. Then move the programs' history start back to the file's dates."""
    summary, digest, _errors = dry_run(job, phase="verify")
    if digest != job.confirmed_digest:
        ImportRowError.objects.filter(job=job, phase="check").delete()
        ImportRowError.objects.filter(job=job, phase="verify").update(phase="check")
        dry_run_ready(
            ImportJob.objects.filter(pk=job.pk),
            summary,
            digest,
            message=_(
                "The data changed since the dry run, so the import would not do what it "
                "showed. Nothing was written. Check the new dry run and confirm again."
            ),
        )
        return False
    ImportRowError.objects.filter(job=job, phase="verify").delete()
    for moved in summary["history"]:
        Program.objects.filter(pk=moved["program_id"], history_starts_on__gt=moved["to"]).update(
            history_starts_on=moved["to"]
        )
    job.summary = {**job.summary, "verified": timezone.now().isoformat()}
    ImportJob.objects.filter(pk=job.pk).update(summary=job.summary)
    return True


def _write(job: ImportJob, deadline: float | None = None) -> None:
    kind = KINDS[job.kind]
    context = job_context(job)
    written = False
    for chunk in row_chunks(job, context, kind, after_line=job.line_done):
        if written and deadline is not None and time.monotonic() > deadline:
            raise _SliceUsed()
        written = True
        with transaction.atomic():
            locked = ImportJob.objects.select_for_update().get(pk=job.pk)
            if locked.status != ImportStatus.COMMITTING or locked.line_done != job.line_done:
                raise Stopped()  # cancelled, or another worker got further
            context.now = timezone.now()
            problems = chunk_problems(kind, context, chunk)
            known = {line for line, _c, _m in problems}
            rows = [item for line, item in chunk if line not in known and isinstance(item, Row)]
            parked: list[tuple[int, str, str]] = []

            def apply(part, kind=kind, context=context):
                with transaction.atomic():
                    return kind.write(context, part)

            def park(row, error, parked=parked):
                parked.append((row.line, "", failure_reason(error)))
                return 0

            batch_apply(rows, apply, park)
            new = parked + _new_problems(job, problems)
            ImportRowError.objects.bulk_create(
                ImportRowError(job=job, line=line, column=column, message=message, phase="commit")
                for line, column, message in new
            )
            job.line_done = chunk[-1][0]
            job.rows_done = min(locked.rows_done + len(chunk), locked.rows_total)
            ImportJob.objects.filter(pk=job.pk).update(
                line_done=job.line_done,
                rows_done=job.rows_done,
                rows_error=locked.rows_error + len(new),
                heartbeat_at=timezone.now(),
            )


def _new_problems(job: ImportJob, problems: list) -> list:
    """Problems the dry run did not list (the data changed while the import ran)."""
    if not problems:
        return []
    listed = set(
        ImportRowError.objects.filter(
            job=job, line__in=[line for line, _c, _m in problems], phase="check"
        ).values_list("line", flat=True)
    )
    return [p for p in problems if p[0] not in listed]


def imports_sweep() -> int:
    """Re-enqueue jobs whose worker stopped showing signs of life (killed, restarted):
    they continue from their checkpoint."""
    stale = timezone.now() - STALE_AFTER
    resumed = 0
    for pk, status in (
        ImportJob.objects.filter(status__in=[ImportStatus.CHECKING, ImportStatus.COMMITTING])
        .filter(Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True, created_at__lt=stale))
        .values_list("pk", "status")
    ):
        enqueue_after_commit(CHECK_TASK if status == ImportStatus.CHECKING else COMMIT_TASK, pk)
        resumed += 1
    if resumed:
        logger.info("imports sweep: resumed %d jobs", resumed)
    return resumed
