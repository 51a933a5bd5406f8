"""The dry run of an import: every row read and checked, nothing written but the job's
summary (rows, totals, what will be created or updated) and its bad rows (line, column,
how to fix it), and a fingerprint of what the import would do. The import
(``commits``) runs it again before it writes and reads the rows the same way."""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from loyalty_site.core.batches import TRANSIENT, failure_reason
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
    rows_read,
)
from programs.models import ImportJob, ImportKind, ImportRowError, ImportStatus, Program

logger = logging.getLogger(__name__)

KINDS = {ImportKind.MEMBERS: members, ImportKind.POINTS: points, ImportKind.PURCHASES: purchases}
CHUNK = 1000
STALE_AFTER = timedelta(minutes=2)  # no sign of life: the worker is gone
CHECK_TIME_LIMIT = 50 * 60  # the dry run reads the whole file in one task (under the broker's
# visibility timeout of an hour, so no second worker gets the task while it runs)
CHECK_TASK = "programs.tasks.import_check_task"
ERRORS_KEPT = 100_000  # bad rows stored per job; the count goes on


def job_claim(job_id: int, status: str) -> ImportJob | None:
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
    job = job_claim(job_id, ImportStatus.CHECKING)
    if job is None:
        return
    with translation.override(job.language):
        with job_failures(job, _("The dry run failed: %s")) as outcome:
            summary, digest, _errors = dry_run(job, phase="check")
        if outcome.ended:
            return
        dry_run_ready(
            ImportJob.objects.filter(pk=job.pk, status=ImportStatus.CHECKING), summary, digest
        )


class Stopped(Exception):
    """The job was cancelled (or taken over) while this worker ran it."""


def dry_run_ready(jobs, summary: dict, digest: str, **fields) -> None:
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


@contextmanager
def job_failures(job: ImportJob, message: str) -> Iterator[SimpleNamespace]:
    """What ends a run of ``job`` early, kept in the job: an unreadable file or any other
    error fails it (``message`` % the reason), a cancel stops it quietly; a database
    outage is raised, for the task to be tried again. ``outcome.ended`` says whether the
    block was cut short."""
    outcome = SimpleNamespace(ended=True)
    try:
        yield outcome
    except FileUnreadable as exc:
        job_fail(job, str(exc))
    except Stopped:
        pass
    except TRANSIENT:
        raise
    except Exception as exc:
        logger.exception("import %s failed", job.pk)
        job_fail(job, message % failure_reason(exc))
    else:
        outcome.ended = False


def job_fail(job: ImportJob, message: str) -> None:
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.FAILED, message=message, finished_at=timezone.now(), heartbeat_at=None
    )


def parsed_rows(job: ImportJob, context: Context, kind) -> Iterator[tuple[int, Row | CellError]]:
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


def row_chunks(job, context, kind, after_line: int = 0):
    chunk: list[tuple[int, Row | CellError]] = []
    for line, item in parsed_rows(job, context, kind):
        if line <= after_line:
            continue
        chunk.append((line, item))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def chunk_problems(kind, context: Context, chunk) -> list[tuple[int, str, str]]:
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


def job_context(job: ImportJob) -> Context:
    with file_open(job) as stream:
        sample = stream.read(SAMPLE_BYTES)
    fmt = format_detect(job, sample)
    return Context.for_job(job, fmt)


def dry_run(job: ImportJob, *, phase: str) -> tuple[dict, str, int]:
    kind = KINDS[job.kind]
    context = job_context(job)
    ImportRowError.objects.filter(job=job, phase=phase).delete()  # a rerun's own rows
    rows = errors = 0
    for chunk in row_chunks(job, context, kind):
        problems = chunk_problems(kind, context, chunk)
        rows += len(chunk)
        if errors < ERRORS_KEPT:
            ImportRowError.objects.bulk_create(
                ImportRowError(job=job, line=line, column=column, message=message, phase=phase)
                for line, column, message in problems[: ERRORS_KEPT - errors]
            )
        errors += len(problems)
        job_alive(job, rows_checked=rows)
    return dry_run_summary(job, context, rows, errors), context.digest.hexdigest(), errors


def job_alive(job: ImportJob, **progress) -> None:
    """A sign of life with the progress; stops a runner whose job was cancelled."""
    updated = ImportJob.objects.filter(
        pk=job.pk, status__in=[ImportStatus.CHECKING, ImportStatus.COMMITTING]
    ).update(heartbeat_at=timezone.now(), **progress)
    if not updated:
        raise Stopped()


def dry_run_summary(job: ImportJob, context: Context, rows: int, errors: int) -> dict:
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
