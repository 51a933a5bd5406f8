"""docs/api.md names every endpoint of the OpenAPI schema, as `METHOD /path` in the table."""

import re
from io import StringIO
from pathlib import Path

import yaml
from django.conf import settings
from django.core.management import call_command

API_PREFIX = "/api/v1"
DOCS = Path(settings.BASE_DIR) / "docs" / "api.md"
METHODS = {"get", "put", "post", "patch", "delete"}


def schema_endpoints() -> set[str]:
    """`METHOD /path` for each operation, the path templated as the schema writes it
    (`/members/{external_id}`), without the version prefix the docs' `$BASE` carries."""
    out = StringIO()
    call_command("spectacular", stdout=out, stderr=StringIO())
    paths = yaml.safe_load(out.getvalue())["paths"]
    return {
        f"`{method.upper()} {path.removeprefix(API_PREFIX)}`"
        for path, operations in paths.items()
        for method in operations
        if method in METHODS
    }


def test_every_endpoint_in_the_schema_is_documented():
    docs = DOCS.read_text(encoding="utf-8")
    endpoints = schema_endpoints()

    missing = sorted(e for e in endpoints if e not in docs)

    assert len(endpoints) > 20  # the schema was read, not an empty document
    assert not missing, f"docs/api.md does not mention these endpoints: {', '.join(missing)}"


def test_every_section_a_reference_names_exists():
    """ "see *Surveys*" needs a heading "Surveys"; "see its section" names none at all."""
    docs = DOCS.read_text(encoding="utf-8")
    headings = set(re.findall(r"^#+ (.+)$", docs, flags=re.MULTILINE))
    referenced = set(re.findall(r"see \*([^*]+)\*", docs))

    assert "Surveys" in referenced
    assert referenced <= headings, f"no section for {sorted(referenced - headings)}"
    assert "see its section" not in docs
