"""An import from upload to the last row: store the file, the dry run, the confirmation,
the import in chunks, cancel, and the sweeper that resumes a job a killed worker left.

* ``import_create`` stores the file in parts and finds it by its SHA-256: the same file
  for the same partner and kind is the same job (nothing new is written twice).
* ``import_check`` (the dry run) reads every row, writes nothing but the job's summary
  (rows, totals, what will be created or updated) and its bad rows (line, column, how to
  fix it), and a fingerprint of what the import would do.
* ``import_confirm`` takes the fingerprint the staff member saw; ``import_commit`` first
  runs the dry run again and stops with the new one if the fingerprint differs (the data
  changed meanwhile), then writes chunk by chunk. Each chunk commits with the job's
  checkpoint (``line_done``), so a restarted worker continues after the last committed
  chunk; the rows' own keys make a chunk written twice write nothing new.
* Bad rows never stop the others: a chunk that fails is split (``batch_apply``) and the
  row that fails alone is recorded as a bad row of the import.
"""

import hashlib
import logging
import time
from collections.abc import Iterator
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from loyalty_site.core.batches import TRANSIENT, batch_apply, failure_reason
from loyalty_site.core.commit import enqueue_after_commit
from programs.errors import LoyaltyError
from programs.imports import members, points, purchases
from programs.imports.cells import CellError
from programs.imports.context import Context, Row
from programs.imports.reading import (
    SAMPLE_BYTES,
    FileUnreadable,
    bad_bytes_column,
    file_open,
    format_detect,
    header_key,
    is_xlsx,
    rows_read,
)
from programs.models import (
    ImportFilePart,
    ImportJob,
    ImportKind,
    ImportRowError,
    ImportStatus,
    Partner,
    Program,
)
from programs.services.events import events_muted

logger = logging.getLogger(__name__)

KINDS = {ImportKind.MEMBERS: members, ImportKind.POINTS: points, ImportKind.PURCHASES: purchases}
PART_BYTES = 1024 * 1024
CHUNK = 1000
INLINE_CHECK_BYTES = 256 * 1024  # smaller files are checked while staff wait
STALE_AFTER = timedelta(minutes=2)  # no sign of life: the worker is gone
# A commit task writes this long, then hands over to a new task (under the task time
# limit; a worker restart or deploy in between costs at most one chunk).
SLICE_SECONDS = 120
CHECK_TIME_LIMIT = 50 * 60  # the dry run reads the whole file in one task (under the broker's
# visibility timeout of an hour, so no second worker gets the task while it runs)
CHECK_TASK = "programs.tasks.import_check_task"
COMMIT_TASK = "programs.tasks.import_commit_task"
ERRORS_KEPT = 100_000  # bad rows stored per job; the count goes on


class ImportRefused(LoyaltyError):
    code = "import_refused"
    status = 400


class ImportConflict(LoyaltyError):
    code = "import_conflict"
    status = 409


def import_create(
    *,
    kind: str,
    partner: Partner,
    program: Program,
    file_name: str,
    file=None,
    user=None,
    via_api: bool = False,
    **options,
) -> ImportJob:
    """A new job for ``partner``'s ids in ``program`` (and the partner's other programs
    named in a row). With ``file`` (a binary file object) the file is stored and the job
    finished uploading (``import_upload_finish``); without, parts follow
    (``import_part_add``)."""
    if kind not in KINDS:
        raise ImportRefused(_("Unknown kind of import."), field="kind")
    if not partner.programs.filter(pk=program.pk).exists():
        raise ImportRefused(_("This partner does not take part in that program."), field="program")
    if kind == ImportKind.POINTS and via_api:
        raise ImportRefused(
            _("Point adjustments are imported by staff; partners post purchases and returns."),
            field="kind",
        )
    job = ImportJob.objects.create(
        kind=kind,
        partner=partner,
        program=program,
        file_name=file_name[:255],
        created_by=user,
        via_api=via_api,
        language=translation.get_language() or "de",
        **options,
    )
    if file is None:
        return job
    number = 0
    while data := file.read(PART_BYTES):
        number += 1
        ImportFilePart.objects.create(job=job, number=number, data=data)
    return import_upload_finish(job)


@transaction.atomic
def import_part_add(job: ImportJob, number: int, data: bytes) -> None:
    """One part of a staged upload (numbered from 1; sending a part again replaces it).
    Locks the job, so that no part lands after ``import_upload_finish`` read the file."""
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if job.status != ImportStatus.UPLOADING:
        raise ImportConflict(_("The upload of this import is finished; start a new one."))
    if not data:
        raise ImportRefused(_("The part is empty."), field="body")
    ImportFilePart.objects.update_or_create(job=job, number=number, defaults={"data": data})


def import_upload_finish(job: ImportJob) -> ImportJob:
    """The file is complete: its key (SHA-256), size and format. The same file imported
    before for the same partner and kind answers with that job (this one is dropped);
    otherwise the dry run starts, at once for a small file."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if job.status != ImportStatus.UPLOADING:
            raise ImportConflict(_("The upload of this import is already finished."))
        closed = _upload_close(job)
    if closed.pk == job.pk and closed.file_size <= INLINE_CHECK_BYTES:
        import_check(closed.pk)
        closed.refresh_from_db()
    return closed


def _upload_close(job: ImportJob) -> ImportJob:
    """Under the job's lock: hash the parts, drop the job for an earlier one of the same
    file, or start the dry run."""
    digest, size = hashlib.sha256(), 0
    stream = file_open(job)
    sample = stream.read(SAMPLE_BYTES)
    chunk = sample
    while chunk:
        digest.update(chunk)
        size += len(chunk)
        chunk = stream.read(PART_BYTES)
    if size == 0:
        raise ImportRefused(_("The file is empty."), field="file")
    earlier = _same_file(job, digest.hexdigest())
    if earlier is not None:
        job.delete()
        return earlier
    job.file_sha256 = digest.hexdigest()
    job.file_size = size
    job.file_format = "xlsx" if is_xlsx(sample) else "csv"
    job.status = ImportStatus.CHECKING
    try:
        with transaction.atomic():
            job.save()
    except IntegrityError:  # the same file, a moment earlier (still in its transaction)
        raise ImportConflict(
            _("The same file is being uploaded at this moment; try again in a minute.")
        ) from None
    if size > INLINE_CHECK_BYTES:
        enqueue_after_commit(CHECK_TASK, job.pk)
    return job


def _same_file(job: ImportJob, sha: str) -> ImportJob | None:
    return (
        ImportJob.objects.filter(partner=job.partner, kind=job.kind, file_sha256=sha)
        .exclude(pk=job.pk)
        .exclude(status__in=[ImportStatus.FAILED, ImportStatus.CANCELLED])
        .first()
    )


def _claim(job_id: int, status: str) -> ImportJob | None:
    """Take the job for this worker unless another one shows signs of life."""
    now = timezone.now()
    taken = ImportJob.objects.filter(pk=job_id, status=status).filter(
        Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - STALE_AFTER)
    )
    if not taken.update(heartbeat_at=now):
        return None
    return ImportJob.objects.select_related("partner", "program", "created_by").get(pk=job_id)


def import_check(job_id: int) -> None:
    """The dry run of a job that is checking: nothing but its summary and bad rows."""
    job = _claim(job_id, ImportStatus.CHECKING)
    if job is None:
        return
    with translation.override(job.language):
        try:
            summary, digest, _errors = _dry_run(job, phase="check")
        except FileUnreadable as exc:
            _fail(job, str(exc))
            return
        except _Stopped:
            return
        except TRANSIENT:
            raise
        except Exception as exc:
            logger.exception("import %s: the dry run failed", job.pk)
            _fail(job, _("The dry run failed: %s") % failure_reason(exc))
            return
        _checked(ImportJob.objects.filter(pk=job.pk, status=ImportStatus.CHECKING), summary, digest)


class _Stopped(Exception):
    """The job was cancelled (or taken over) while this worker ran it."""


class _SliceUsed(Exception):
    """The task wrote for its time slice: the next task continues from the checkpoint."""


def _checked(jobs, summary: dict, digest: str, **fields) -> None:
    """The dry run is ready: its summary, fingerprint and counts, waiting for confirmation."""
    jobs.update(
        status=ImportStatus.CHECKED,
        summary=summary,
        plan_digest=digest,
        rows_total=summary["rows"],
        rows_checked=summary["rows"],
        rows_error=summary["errors"],
        checked_at=timezone.now(),
        heartbeat_at=None,
        **fields,
    )


def _fail(job: ImportJob, message: str) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.FAILED, message=message, finished_at=timezone.now(), heartbeat_at=None
    )


def _rows(job: ImportJob, context: Context, kind) -> Iterator[tuple[int, Row | CellError]]:
    """Every row parsed: the row, or the first problem found in it."""
    rows = rows_read(job, context.fmt, kind.ALIASES)
    _line, head = next(rows)
    missing = [c for c in kind.REQUIRED if c not in head["__columns__"]]
    if missing:
        header = ", ".join(str(h) for h in head["__header__"] if h not in (None, ""))
        raise FileUnreadable(
            _(
                "Columns missing: %(missing)s. The first line of the file must name the "
                "columns; it reads: %(header)s. See docs/import.md for the file formats."
            )
            % {"missing": ", ".join(missing), "header": header or "-"}
        )
    context.columns = head["__columns__"]
    context.header = [str(h) for h in head["__header__"] if h not in (None, "")]
    for line, values in rows:
        if "__error__" in values:
            yield line, CellError("", _("The line cannot be read: %s") % values["__error__"])
            continue
        bad = bad_bytes_column(values)
        if bad is not None:
            yield (
                line,
                CellError(
                    bad,
                    _(
                        "The text has characters that are not %(encoding)s. Save the file as "
                        "UTF-8, or choose the file's character encoding in the form."
                    )
                    % {"encoding": context.fmt.encoding},
                ),
            )
            continue
        try:
            yield line, kind.parse(context, line, values)
        except CellError as exc:
            yield line, exc


def _chunks(job, context, kind, after_line: int = 0):
    chunk: list[tuple[int, Row | CellError]] = []
    for line, item in _rows(job, context, kind):
        if line <= after_line:
            continue
        chunk.append((line, item))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _problems(kind, context: Context, chunk) -> list[tuple[int, str, str]]:
    """Classify the chunk's good rows; return every problem (line, column, message)."""
    rows = [item for _line, item in chunk if isinstance(item, Row)]
    if rows:
        kind.classify(context, rows)
        if hasattr(kind, "check_stored"):
            kind.check_stored(context, rows)
    problems = []
    for line, item in chunk:
        if isinstance(item, CellError):
            problems.append((line, item.column, item.message))
        elif hasattr(kind, "row_problem") and (found := kind.row_problem(item)) is not None:
            problems.append((line, *found))
        else:
            context.planned(item)
    for line, column, message in problems:
        context.failed(line, column, message)
    return problems


def _context(job: ImportJob) -> Context:
    with file_open(job) as stream:
        sample = stream.read(SAMPLE_BYTES)
    fmt = format_detect(job, sample)
    return Context.for_job(job, fmt)


def _dry_run(job: ImportJob, *, phase: str) -> tuple[dict, str, int]:
    kind = KINDS[job.kind]
    context = _context(job)
    ImportRowError.objects.filter(job=job, phase=phase).delete()  # a rerun's own rows
    rows = errors = 0
    for chunk in _chunks(job, context, kind):
        problems = _problems(kind, context, chunk)
        rows += len(chunk)
        if errors < ERRORS_KEPT:
            ImportRowError.objects.bulk_create(
                ImportRowError(job=job, line=line, column=column, message=message, phase=phase)
                for line, column, message in problems[: ERRORS_KEPT - errors]
            )
        errors += len(problems)
        _alive(job, rows_checked=rows)
    return _summary(job, context, rows, errors), context.digest.hexdigest(), errors


def _alive(job: ImportJob, **progress) -> None:
    """A sign of life with the progress; stops a runner whose job was cancelled."""
    updated = ImportJob.objects.filter(
        pk=job.pk, status__in=[ImportStatus.CHECKING, ImportStatus.COMMITTING]
    ).update(heartbeat_at=timezone.now(), **progress)
    if not updated:
        raise _Stopped()


def _summary(job: ImportJob, context: Context, rows: int, errors: int) -> dict:
    history = []
    for program_id, earliest in sorted(context.earliest.items()):
        program = Program.objects.get(pk=program_id)
        if earliest < program.history_starts_on:
            history.append(
                {
                    "program": program.name,
                    "program_id": program.pk,
                    "from": program.history_starts_on.isoformat(),
                    "to": earliest.isoformat(),
                }
            )
    return {
        "rows": rows,
        "valid": rows - errors,
        "errors": errors,
        "actions": dict(context.actions),
        "points": context.points,
        "money": {currency: str(amount) for currency, amount in context.money.items()},
        "history": history,
        "columns": context.columns,
        "ignored": [h for h in context.header if header_key(h) not in KINDS[job.kind].ALIASES],
        "format": {**context.fmt.as_dict(), "file": job.file_format},
    }


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
    job = _claim(job_id, ImportStatus.COMMITTING)
    if job is None:
        return
    with translation.override(job.language), events_muted(not job.notify):
        try:
            unverified = job.line_done == 0 and not job.summary.get("verified")
            if unverified and not _verify(job):
                return
            _write(job, deadline=time.monotonic() + SLICE_SECONDS)
        except _SliceUsed:
            # Let the next task take over at once (no stale wait), after this commit.
            ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=None)
            enqueue_after_commit(COMMIT_TASK, job.pk)
            return
        except FileUnreadable as exc:
            _fail(job, str(exc))
            return
        except _Stopped:
            return
        except TRANSIENT:
            raise
        except Exception as exc:
            logger.exception("import %s failed", job.pk)
            _fail(job, _("The import stopped: %s") % failure_reason(exc))
            return
    ImportJob.objects.filter(pk=job.pk, status=ImportStatus.COMMITTING).update(
        status=ImportStatus.DONE, finished_at=timezone.now(), heartbeat_at=None
    )


def _verify(job: ImportJob) -> bool:
    """Run the dry run again: if it no longer matches what was confirmed, stop and show
    the new one. Then move the programs' history start back to the file's dates."""
    summary, digest, _errors = _dry_run(job, phase="verify")
    if digest != job.confirmed_digest:
        ImportRowError.objects.filter(job=job, phase="check").delete()
        ImportRowError.objects.filter(job=job, phase="verify").update(phase="check")
        _checked(
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
    context = _context(job)
    written = False
    for chunk in _chunks(job, context, kind, after_line=job.line_done):
        if written and deadline is not None and time.monotonic() > deadline:
            raise _SliceUsed()
        written = True
        with transaction.atomic():
            locked = ImportJob.objects.select_for_update().get(pk=job.pk)
            if locked.status != ImportStatus.COMMITTING or locked.line_done != job.line_done:
                raise _Stopped()  # cancelled, or another worker got further
            context.now = timezone.now()
            problems = _problems(kind, context, chunk)
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
