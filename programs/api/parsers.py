"""JSON bodies, refused with a parse error (400) when nested deeper than any request needs.

Python's decoder gives up with ``RecursionError`` somewhere near a thousand levels, and a
structure just below that can still exhaust the stack of the code that walks it later
(validation, error lists, the idempotency fingerprint). No request body of this API is
nested more than a few levels, so ``MAX_DEPTH`` leaves ample room.
"""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 32


def json_depth_exceeds(value, limit: int) -> bool:
    """True if ``value`` has lists or objects nested more than ``limit`` deep."""
    level = [value]
    for _depth in range(limit):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
        ]
        if not level:
            return False
    return any(isinstance(item, dict | list) for item in level)


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            data = None
        else:
            if not json_depth_exceeds(data, MAX_DEPTH):
                return data
        raise ParseError(
            f"JSON parse error - nested more than {MAX_DEPTH} levels deep.", "parse_error"
        )


class OctetStreamParser(parsers.BaseParser):
    """A raw body (``application/octet-stream``) as bytes, e.g. a part of an import file.
    Its size is checked before it is read (``body_size_check``)."""

    media_type = "application/octet-stream"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        return stream.read()
