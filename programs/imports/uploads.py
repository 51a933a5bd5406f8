"""An import's file: stored in parts and known by its SHA-256, so the same file for the
same partner and kind is the same job (nothing new is written twice). A small file's dry
run runs at once; a big one's on the worker (``dry_runs``)."""

import hashlib

from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from loyalty_site.core.commit import enqueue_after_commit
from programs.errors import LoyaltyError
from programs.imports.dry_runs import CHECK_TASK, KINDS, import_check
from programs.imports.reading import SAMPLE_BYTES, file_open, is_xlsx
from programs.models import (
    ImportFilePart,
    ImportJob,
    ImportKind,
    ImportStatus,
    Partner,
    Program,
)

PART_BYTES = 1024 * 1024
INLINE_CHECK_BYTES = 256 * 1024  # smaller files are checked while staff wait


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
