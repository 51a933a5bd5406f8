"""Imports of member and purchase files by the partner: start one, its state and dry run,
its bad rows. (The columns of the files: docs/import.md.)"""

import re

from django.urls import reverse
from drf_spectacular.drainage import set_override
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from programs.api.serializers.base import IdField, StrictSerializer
from programs.models import (
    ImportDecimal,
    ImportDelimiter,
    ImportEncoding,
    ImportJob,
    ImportKind,
    ImportStatus,
)

API_KINDS = [ImportKind.MEMBERS.value, ImportKind.PURCHASES.value]
MAX_ID = 2**31 - 1
_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,50}")


@extend_schema_field(
    {
        "oneOf": [
            {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            {"type": "string", "pattern": "^[-a-zA-Z0-9_]{1,50}$"},
        ]
    }
)
class ProgramRefField(serializers.Field):
    """One of the partner's programs by its slug or its id; the view looks it up."""

    default_error_messages = {"invalid": "Give a program slug (or its id)."}

    def to_internal_value(self, data) -> str:
        if isinstance(data, int) and not isinstance(data, bool) and 1 <= data <= MAX_ID:
            return str(data)
        if isinstance(data, str) and _SLUG.fullmatch(data):
            return data
        return self.fail("invalid")

    def to_representation(self, value):
        return value


class ImportKindField(serializers.ChoiceField):
    """Takes every kind, so that the engine says why partners may not import point
    adjustments (400 ``import_refused``); the schema lists the kinds partners may use."""

    def __init__(self, **kwargs):
        super().__init__(choices=ImportKind.values, **kwargs)
        set_override(self, "field", {"type": "string", "enum": API_KINDS})


class ImportCreateInput(StrictSerializer):
    """A new import; its file follows in parts (unknown fields are refused)."""

    kind = ImportKindField(
        help_text="`members` (members with their opening balances) or `purchases` "
        "(purchase history)."
    )
    program = ProgramRefField(
        help_text="Your program (slug or id) for rows without a `program` column."
    )
    file_name = IdField(max_length=255, help_text="The file's name, e.g. `mitglieder.csv`.")
    encoding = serializers.ChoiceField(
        choices=ImportEncoding.values,
        required=False,
        default=ImportEncoding.AUTO,
        help_text="Character encoding of a CSV file; `auto` detects it.",
    )
    delimiter = serializers.ChoiceField(
        choices=ImportDelimiter.values,
        required=False,
        default=ImportDelimiter.AUTO,
        help_text="Column separator of a CSV file; `auto` detects it.",
    )
    decimal = serializers.ChoiceField(
        choices=ImportDecimal.values,
        required=False,
        default=ImportDecimal.AUTO,
        help_text="Decimal mark; `auto`: a comma when `;` separates the columns.",
    )
    notify = serializers.BooleanField(
        required=False,
        default=False,
        help_text="true: customer e-mails and webhooks as if each row came through the API; "
        "false (default): the import informs nobody.",
    )
    award_points = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Purchases: true awards their points; false (default): they count toward "
        "tiers and figures only (the points usually came with the opening balance).",
    )


class ImportUploadInput(ImportCreateInput):
    """The same fields as form fields, with the whole file (at most the body limit)."""

    file = serializers.FileField(help_text="The whole file (CSV or .xlsx).")
    file_name = IdField(
        max_length=255, required=False, help_text="Defaults to the uploaded file's name."
    )


class ImportCommitInput(StrictSerializer):
    """The dry run you confirm, by its fingerprint."""

    plan_digest = serializers.RegexField(
        r"^[0-9a-f]{64}$",
        help_text="The `plan_digest` of the dry run you looked at.",
    )


class ImportLinksSerializer(serializers.Serializer):
    self = serializers.CharField()
    complete = serializers.CharField()
    errors = serializers.CharField()
    commit = serializers.CharField()
    cancel = serializers.CharField()


class ImportJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ImportKind.choices)
    program = serializers.SlugField(source="program.slug")
    status = serializers.ChoiceField(
        choices=ImportStatus.choices,
        help_text="uploading → checking (dry run) → checked (waiting for your commit) → "
        "committing → done; or cancelled, failed (see `message`).",
    )
    file_name = serializers.CharField()
    file_size = serializers.IntegerField()
    file_format = serializers.CharField(help_text="`csv` or `xlsx`.")
    encoding = serializers.CharField()
    delimiter = serializers.CharField()
    decimal = serializers.CharField()
    notify = serializers.BooleanField()
    award_points = serializers.BooleanField()
    rows_total = serializers.IntegerField()
    rows_checked = serializers.IntegerField()
    rows_done = serializers.IntegerField()
    rows_error = serializers.IntegerField()
    percent = serializers.IntegerField(help_text="Progress of the running dry run or import.")
    summary = serializers.DictField(
        help_text="The dry run: `rows`, `valid`, `errors`, `actions` (e.g. `create`, "
        "`update`: how many rows each), `points`, `money` (per currency), `history` (programs "
        "whose history start moves back), `columns`, `ignored` (columns not used), `format`."
    )
    plan_digest = serializers.CharField(
        help_text="Fingerprint of the dry run; send it to `commit` to import exactly that."
    )
    message = serializers.CharField(help_text="Why it failed, or what changed.")
    created_at = serializers.DateTimeField()
    checked_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    upload_url = serializers.SerializerMethodField(
        help_text="While `uploading`: PUT part n (from 1) of the file to `<upload_url>/n`."
    )
    links = serializers.SerializerMethodField()

    def get_upload_url(self, job: ImportJob) -> str | None:
        if job.status != ImportStatus.UPLOADING:
            return None
        return self._url(reverse("api:import-detail", kwargs={"id": job.pk}) + "/parts")

    @extend_schema_field(ImportLinksSerializer)
    def get_links(self, job: ImportJob) -> dict:
        def url(name: str) -> str:
            return self._url(reverse(f"api:{name}", kwargs={"id": job.pk}))

        return {
            "self": url("import-detail"),
            "complete": url("import-complete"),
            "errors": url("import-errors"),
            "commit": url("import-commit"),
            "cancel": url("import-cancel"),
        }

    def _url(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class ImportUploadResultSerializer(ImportJobSerializer):
    same_file = serializers.BooleanField(
        help_text="true: you uploaded this file before (same partner, same kind); the "
        "answer is that earlier import and the new upload was discarded."
    )


class ImportRowErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="Line of the file (the header is line 1).")
    column = serializers.CharField(help_text="The column (its English name); may be empty.")
    message = serializers.CharField(help_text="What is wrong and how to fix it.")
    phase = serializers.ChoiceField(
        choices=["check", "commit"],
        help_text="`check`: found by the dry run; `commit`: found while importing (the data "
        "changed meanwhile).",
    )
