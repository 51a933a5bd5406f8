"""Exports written by a worker (``programs.models.exports``): the export that was too
long for the request (``export_files.export_in_background``) is built again from the
job, in the language and with the permissions of the staff member who started it, from
the same ``ExportFile`` the direct download writes; the file goes to a temporary file
row by row (the workbook in openpyxl's write-only mode; the CSV exactly as the direct
download streams it), then into the database in parts of 1 MiB.

* A worker claims a job that is queued, or running without progress for
  ``STALE_AFTER`` (its worker was killed: the task is acknowledged late, so it comes
  back). The claim's time is the worker's lease: progress and the finished file are
  only written while the job still carries it, so two workers never both write.
* A job without progress for ``STALLED_AFTER`` is shown as failed, with a retry.
* The parts of a finished file are deleted after ``KEEP_FILES`` (``export_files_purge``).
"""

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from loyalty_site.core.batches import failure_reason
from loyalty_site.core.commit import enqueue_after_commit
from loyalty_site.core.downloads import csv_write, xlsx_write
from programs.admin.export_files import EXPORT_TASK, ExportFile, export_rows_count
from programs.admin.ledger_period import period_job_file
from programs.admin.membership_exports import member_ledger_job_file, members_job_file
from programs.admin.segments import segment_job_file
from programs.models import ExportFilePart, ExportFormat, ExportJob, ExportKind, ExportStatus

logger = logging.getLogger(__name__)

SOURCES: dict[str, Callable[[ExportJob], ExportFile]] = {
    ExportKind.MEMBERS: members_job_file,
    ExportKind.MEMBER_LEDGER: member_ledger_job_file,
    ExportKind.LEDGER_PERIOD: period_job_file,
    ExportKind.SEGMENT: segment_job_file,
}
PART_BYTES = 1024 * 1024
PROGRESS_EVERY = 1000  # rows between two progress updates
STALE_AFTER = timedelta(minutes=2)  # no progress: another worker may take the job over
STALLED_AFTER = timedelta(minutes=10)  # no progress: the page shows the job as failed
KEEP_FILES = timedelta(days=7)
TIME_LIMIT = 60 * 60  # the task's soft time limit: a million rows take about five minutes


class _Lost(Exception):
    """Another worker took the job over (this one was thought gone)."""


def export_job_run(job_id: int) -> bool:
    """Write the file of a queued job (or of a running one whose worker is gone). False
    if another worker showed progress on it lately: ask again after ``STALE_AFTER``."""
    job = _claim(job_id)
    if job is None:
        return not ExportJob.objects.filter(pk=job_id, status=ExportStatus.RUNNING).exists()
    with translation.override(job.language):
        try:
            export = SOURCES[job.kind](job)
            total = export_rows_count(export)
            ExportJob.objects.filter(pk=job.pk).update(rows_total=total)
            with tempfile.TemporaryFile() as file:
                written = _write(job, export, file)
                _store(job, file, rows=written)
        except _Lost:
            pass
        except SoftTimeLimitExceeded:
            _fail(job, _("The export took longer than an hour and was stopped."))
        except (OperationalError, InterfaceError):
            _release(job)
            raise  # the task retries
        except PermissionDenied as exc:
            _fail(job, str(exc))
        except ObjectDoesNotExist:
            _fail(job, _("What was exported no longer exists."))
        except Exception as exc:
            logger.exception("export %s failed", job.pk)
            _fail(job, failure_reason(exc))
    return True


def _claim(job_id: int) -> ExportJob | None:
    now = timezone.now()
    gone = now - STALE_AFTER
    taken = ExportJob.objects.filter(pk=job_id).filter(
        Q(status=ExportStatus.QUEUED)
        | (
            Q(status=ExportStatus.RUNNING)
            & (Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=gone))
        )
    )
    if not taken.update(status=ExportStatus.RUNNING, heartbeat_at=now, rows_done=0, error=""):
        return None
    return ExportJob.objects.select_related("user").get(pk=job_id)


def _mine(job: ExportJob):
    return ExportJob.objects.filter(
        pk=job.pk, status=ExportStatus.RUNNING, heartbeat_at=job.heartbeat_at
    )


def _write(job: ExportJob, export: ExportFile, file) -> int:
    written = 0

    def counted(rows: Iterable) -> Iterator:
        nonlocal written
        for row in rows:
            yield row
            written += 1
            if written % PROGRESS_EVERY == 0:
                _alive(job, written)

    if job.file_format == ExportFormat.CSV:
        csv_write(file, export.header, counted(export.rows))
    else:
        xlsx_write(file, export.header, counted(export.rows), sheet_title=export.sheet_title)
    return written


def _alive(job: ExportJob, rows_done: int) -> None:
    now = timezone.now()
    if not _mine(job).update(rows_done=rows_done, heartbeat_at=now):
        raise _Lost()
    job.heartbeat_at = now


def _store(job: ExportJob, file, *, rows: int) -> None:
    size = file.seek(0, 2)
    file.seek(0)
    with transaction.atomic():
        if not _mine(job).select_for_update().exists():
            raise _Lost()
        ExportFilePart.objects.filter(job=job).delete()
        number = 0
        while data := file.read(PART_BYTES):
            number += 1
            ExportFilePart.objects.create(job=job, number=number, data=data)
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportStatus.DONE,
            rows_done=rows,
            rows_total=rows,
            file_size=size,
            finished_at=timezone.now(),
        )


def _fail(job: ExportJob, message: str) -> None:
    _mine(job).update(status=ExportStatus.FAILED, error=message, finished_at=timezone.now())


def _release(job: ExportJob) -> None:
    """Let the retried task take the job at once (if the database answers)."""
    with contextlib.suppress(OperationalError, InterfaceError):
        _mine(job).update(heartbeat_at=None)


def export_job_stalled(job: ExportJob) -> bool:
    """Queued or running, but without progress for ``STALLED_AFTER``: its worker is gone."""
    if job.status not in (ExportStatus.QUEUED, ExportStatus.RUNNING):
        return False
    return (job.heartbeat_at or job.created_at) < timezone.now() - STALLED_AFTER


def export_job_retry(job: ExportJob) -> bool:
    """Start a failed (or stalled) job again; False if it is neither any more."""
    if job.status != ExportStatus.FAILED and not export_job_stalled(job):
        return False
    restarted = ExportJob.objects.filter(
        pk=job.pk, status=job.status, heartbeat_at=job.heartbeat_at
    )
    if not restarted.update(
        status=ExportStatus.QUEUED, rows_done=0, error="", heartbeat_at=None, finished_at=None
    ):
        return False
    enqueue_after_commit(EXPORT_TASK, job.pk)
    return True


def export_files_purge() -> int:
    """Delete the files of exports finished more than ``KEEP_FILES`` ago (the jobs stay,
    saying so). Returns how many files were deleted."""
    now = timezone.now()
    old = ExportJob.objects.filter(
        status=ExportStatus.DONE, finished_at__lt=now - KEEP_FILES, purged_at__isnull=True
    )
    ids = list(old.values_list("pk", flat=True))
    ExportFilePart.objects.filter(job_id__in=ids).delete()
    ExportJob.objects.filter(pk__in=ids).update(purged_at=now)
    return len(ids)
