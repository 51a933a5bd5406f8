"""Every German catalogue is complete: an empty msgstr shows English to a German reader, and
a fuzzy entry is left out of the compiled catalogue (so it shows English too)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The project's catalogue, the apps' and the apps' sub-apps' (loyalty_site/portal).
CATALOGUES = sorted(
    path
    for depth in ("", "*/", "*/*/")
    for path in ROOT.glob(f"{depth}locale/de/LC_MESSAGES/*.po")
    if ".venv" not in path.parts
)

STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def entries(path: Path):
    """(flags, msgid, [msgstr...]) for each entry, the header included."""
    for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
        flags, msgid, msgstrs, current = [], None, [], None
        for raw in block.splitlines():
            if raw.startswith("#,"):
                flags += [flag.strip() for flag in raw[2:].split(",")]
            elif raw.startswith("#~"):  # an obsolete entry: not compiled, not shown
                msgid = None
                break
            elif raw.startswith("msgid "):
                msgid, current = [STRING.search(raw).group(1)], "id"
            elif raw.startswith("msgid_plural "):
                current = "plural"
            elif raw.startswith("msgstr"):
                msgstrs.append([STRING.search(raw).group(1)])
                current = "str"
            elif raw.startswith('"') and current == "id":
                msgid.append(STRING.search(raw).group(1))
            elif raw.startswith('"') and current == "str":
                msgstrs[-1].append(STRING.search(raw).group(1))
        if msgid is not None:
            yield flags, "".join(msgid), ["".join(parts) for parts in msgstrs]


def test_the_german_catalogues_are_found():
    names = {str(path.relative_to(ROOT)) for path in CATALOGUES}
    assert {
        "locale/de/LC_MESSAGES/django.po",
        "customers/locale/de/LC_MESSAGES/django.po",
        "programs/locale/de/LC_MESSAGES/django.po",
        "surveys/locale/de/LC_MESSAGES/django.po",
        "loyalty_site/portal/locale/de/LC_MESSAGES/django.po",
    } <= names


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_german_entry_is_empty_or_fuzzy(path):
    problems = []
    for flags, msgid, msgstrs in entries(path):
        if "fuzzy" in flags:
            problems.append(f"fuzzy: {msgid or '(header)'!r}")
        if msgid and (not msgstrs or not all(msgstrs)):
            problems.append(f"empty: {msgid!r}")
    assert problems == []
