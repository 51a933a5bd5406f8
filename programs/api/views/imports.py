"""Imports: a partner uploads a file of members or purchases (in parts, or at once when
small), looks at the dry run and its bad rows, and commits exactly that dry run; a worker
imports it. The engine is ``programs.imports`` (uploads, dry_runs, commits); these views
only translate."""

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response

from programs.api.idempotency import IDEMPOTENCY_PARAMETER, idempotent
from programs.api.pagination import IdCursorPagination, LineCursorPagination
from programs.api.parsers import JSONParser, OctetStreamParser
from programs.api.schema import PAGINATION, problems
from programs.api.serializers.imports import (
    MAX_ID,
    ImportCommitInput,
    ImportCreateInput,
    ImportJobSerializer,
    ImportRowErrorSerializer,
    ImportUploadInput,
    ImportUploadResultSerializer,
)
from programs.api.views.base import PartnerAPIView, unknown_program
from programs.imports.commits import import_cancel, import_confirm
from programs.imports.uploads import (
    PART_BYTES,
    import_create,
    import_part_add,
    import_upload_finish,
)
from programs.models import ImportJob, ImportRowError, Program
from programs.selectors import partner_programs

TAG = "Imports"
MAX_PARTS = 10_000
IMPORT_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)
PART_NUMBER = OpenApiParameter(
    "number",
    {"type": "integer", "minimum": 1, "maximum": MAX_PARTS},
    OpenApiParameter.PATH,
    description=f"The part's number, 1 to {MAX_PARTS}, in the file's order.",
)
CREATE_EXAMPLE = OpenApiExample(
    "members",
    value={"kind": "members", "program": "treue", "file_name": "mitglieder.csv"},
    request_only=True,
    media_type="application/json",
)


class PartnerImportView(PartnerAPIView):
    """The calling partner's imports, and nobody else's."""

    def get_queryset(self):
        return ImportJob.objects.filter(partner=self.partner).select_related("program")

    def job(self, job_id: int) -> ImportJob:
        found = self.get_queryset().filter(pk=job_id).first()
        if found is None:
            raise NotFound(f"You have no import with id {job_id}.", "import_not_found")
        return found

    def job_body(self, job: ImportJob, *, same_file: bool | None = None) -> dict:
        """The job as stored now (the dry run may have run meanwhile); with ``same_file``
        the answer to an upload."""
        job = self.get_queryset().get(pk=job.pk)
        context = {"request": self.request}
        if same_file is None:
            return ImportJobSerializer(job, context=context).data
        job.same_file = same_file
        return ImportUploadResultSerializer(job, context=context).data

    def upload_answer(self, uploaded_id: int, job: ImportJob, created: int) -> Response:
        """``job`` is the upload, or the earlier import of the same file (the upload was
        dropped): 200 with ``same_file`` then."""
        same_file = job.pk != uploaded_id
        return Response(
            self.job_body(job, same_file=same_file),
            status=status.HTTP_200_OK if same_file else created,
            headers={"Location": reverse("api:import-detail", kwargs={"id": job.pk})},
        )


class ImportListView(PartnerImportView):
    pagination_class = IdCursorPagination
    serializer_class = ImportJobSerializer
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        tags=[TAG],
        operation_id="imports_list",
        summary="Your imports",
        description="Newest first, cursor-paginated.",
        parameters=PAGINATION,
        responses={200: ImportJobSerializer(many=True), **problems(400)},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        body = ImportJobSerializer(page, many=True, context={"request": request}).data
        return self.get_paginated_response(body)

    @extend_schema(
        tags=[TAG],
        operation_id="imports_create",
        summary="Start an import of members or purchases",
        description=(
            "JSON: creates the import in status `uploading` (201) with its `upload_url`; PUT "
            "the file's parts there, then POST `complete`. Multipart (`file` and the same "
            "fields as form fields): the whole file at once, at most the request body limit "
            "(2 MiB); the dry run starts at once (201). The same file uploaded before for "
            "the same kind answers 200 with that earlier import (`same_file`: true). "
            "Point adjustments (`points`) are imported by staff only: 400 `import_refused`. "
            "Scope: write."
        ),
        parameters=[IDEMPOTENCY_PARAMETER],
        request={
            "application/json": ImportCreateInput,
            "multipart/form-data": ImportUploadInput,
        },
        examples=[CREATE_EXAMPLE],
        responses={
            201: ImportUploadResultSerializer,
            200: ImportUploadResultSerializer,
            **problems(400, 403, 409, 413, 422),
        },
    )
    @idempotent
    def post(self, request):
        upload = request.content_type.startswith("multipart/")
        serializer = (ImportUploadInput if upload else ImportCreateInput)(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        file = data.pop("file", None)
        file_name = data.pop("file_name", None) or (file.name if file else "")
        job = import_create(
            kind=data.pop("kind"),
            partner=self.partner,
            program=self._program(data.pop("program")),
            file_name=file_name,
            via_api=True,
            **data,
        )
        if file is None:
            return self.upload_answer(job.pk, job, status.HTTP_201_CREATED)
        uploaded_id, number = job.pk, 0
        while part := file.read(PART_BYTES):
            number += 1
            import_part_add(job, number, part)
        return self.upload_answer(uploaded_id, import_upload_finish(job), status.HTTP_201_CREATED)

    def _program(self, ref: str) -> Program:
        programs = partner_programs(partner=self.partner)
        found = programs.filter(slug=ref).first()
        if found is None and ref.isdigit() and int(ref) <= MAX_ID:
            found = programs.filter(pk=int(ref)).first()
        if found is None:
            raise unknown_program()
        return found


class ImportDetailView(PartnerImportView):
    serializer_class = ImportJobSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="imports_retrieve",
        summary="An import: status, progress, dry run",
        description=(
            "Poll this while `status` is `checking` or `committing` (`percent`). With "
            "`checked` the `summary` is the dry run and `plan_digest` its fingerprint; the "
            "bad rows are at `links.errors`."
        ),
        parameters=[IMPORT_ID],
        responses={200: ImportJobSerializer, **problems(404)},
    )
    def get(self, request, id: int):
        return Response(self.job_body(self.job(id)))


class ImportPartView(PartnerImportView):
    parser_classes = [OctetStreamParser]
    serializer_class = None

    @extend_schema(
        tags=[TAG],
        operation_id="imports_part_put",
        summary="Upload a part of the file",
        description=(
            "The raw bytes of part `number` (from 1, in the file's order; cut the file with "
            "e.g. `split -b 1m`), `Content-Type: application/octet-stream`, at most the "
            "request body limit (2 MiB; 413 above). Sending a part again replaces it. Only "
            "while the import is `uploading` (409 after `complete`). Scope: write."
        ),
        parameters=[IMPORT_ID, PART_NUMBER],
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={204: None, **problems(400, 403, 404, 409, 413)},
    )
    def put(self, request, id: int, number: int):
        if not 1 <= number <= MAX_PARTS:
            raise ValidationError(
                {"number": [f"Number the parts from 1 to {MAX_PARTS}."]}, code="invalid"
            )
        data = request.data if isinstance(request.data, bytes) else b""
        import_part_add(self.job(id), number, data)  # locks the import itself
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImportCompleteView(PartnerImportView):
    serializer_class = ImportUploadResultSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="imports_complete",
        summary="Finish the upload and start the dry run",
        description=(
            "All parts are there: the file's size, format and SHA-256 are taken and the dry "
            "run starts (a small file is checked before the answer; poll the import "
            "otherwise). 200 with the import. If you uploaded the same file before for the "
            "same kind, this upload is discarded and the answer is the earlier import, with "
            "`same_file`: true (its id differs from the one you completed). An upload "
            "without parts is a 400 `import_refused`; one already completed 409. "
            "Scope: write."
        ),
        parameters=[IMPORT_ID, IDEMPOTENCY_PARAMETER],
        request=None,
        responses={200: ImportUploadResultSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request, id: int):
        # The engine locks the import: no part lands meanwhile, a second complete is a 409.
        return self.upload_answer(id, import_upload_finish(self.job(id)), status.HTTP_200_OK)


class ImportErrorsView(PartnerImportView):
    pagination_class = LineCursorPagination
    serializer_class = ImportRowErrorSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="imports_errors",
        summary="The bad rows of an import",
        description=(
            "Each bad row with its `line`, `column` and what to fix, in the file's order, "
            "cursor-paginated. Bad rows are not imported; the others are. At most 100,000 "
            "are listed (`rows_error` counts all)."
        ),
        parameters=[IMPORT_ID, *PAGINATION],
        responses={200: ImportRowErrorSerializer(many=True), **problems(400, 404)},
    )
    def get(self, request, id: int):
        job = self.job(id)
        # "verify": the dry run repeated just before importing, not a finding of its own
        rows = ImportRowError.objects.filter(job=job).exclude(phase="verify")
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(ImportRowErrorSerializer(page, many=True).data)


class ImportCommitView(PartnerImportView):
    serializer_class = ImportJobSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="imports_commit",
        summary="Import what the dry run showed",
        description=(
            "Send the `plan_digest` of the dry run you looked at: 202, a worker imports the "
            "valid rows (poll the import). 409 `import_conflict` when the import is not "
            "`checked`, when the dry run was renewed since (another digest) or has no valid "
            "row. Should the data change before the worker starts (e.g. a member enrolled "
            "meanwhile), nothing is written and the import is `checked` again with a new "
            "dry run and a `message`. Scope: write."
        ),
        parameters=[IMPORT_ID, IDEMPOTENCY_PARAMETER],
        request=ImportCommitInput,
        responses={202: ImportJobSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request, id: int):
        serializer = ImportCommitInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = import_confirm(self.job(id), digest=serializer.validated_data["plan_digest"])
        return Response(self.job_body(job), status=status.HTTP_202_ACCEPTED)


class ImportCancelView(PartnerImportView):
    serializer_class = ImportJobSerializer

    @extend_schema(
        tags=[TAG],
        operation_id="imports_cancel",
        summary="Cancel an import",
        description=(
            "Stops the upload, the dry run or the import. Rows imported before stay; "
            "uploading the same file again continues with the others. 409 when the import "
            "has ended (done, failed, cancelled). Scope: write."
        ),
        parameters=[IMPORT_ID, IDEMPOTENCY_PARAMETER],
        request=None,
        responses={200: ImportJobSerializer, **problems(400, 403, 404, 409, 422)},
    )
    @idempotent
    def post(self, request, id: int):
        return Response(self.job_body(import_cancel(self.job(id))))
