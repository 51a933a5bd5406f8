"""Cursor pagination for the partner API: stable under inserts, page size capped at 200."""

import re

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination

MAX_PAGE_SIZE = 200
_POSITION = re.compile(r"^\d{1,18}$")


class IdCursorPagination(CursorPagination):
    """Newest first by id. ``page_size`` above 200 is cut to 200."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    page_size_query_description = f"Results per page, 1 to {MAX_PAGE_SIZE} (default 50)."

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        digits = raw.lstrip("0") if re.fullmatch(r"[0-9]+", raw) else ""
        if not digits:
            raise ValidationError(
                {"page_size": [f"Give a whole number from 1 to {MAX_PAGE_SIZE}."]},
                code="invalid_page_size",
            )
        # any number of digits, as the schema allows: a long one is cut like a large one
        return MAX_PAGE_SIZE if len(digits) > 3 else min(int(digits), MAX_PAGE_SIZE)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = None
            valid = False
        else:
            valid = (
                cursor is None or cursor.position is None or self.position_valid(cursor.position)
            )
        if not valid:
            raise ValidationError(
                {"cursor": ["Invalid cursor: use the 'next' or 'previous' link as given."]},
                code="invalid_cursor",
            )
        return cursor

    def position_valid(self, position: str) -> bool:
        return bool(_POSITION.match(position))


class EffectiveCursorPagination(IdCursorPagination):
    """A ledger history: newest first by when entries count (``effective_at``), then id.
    Entries of one moment are told apart by DRF's offset within the position. A late report
    of an old purchase files its entry at the purchase's date, behind pages already read."""

    ordering = ("-effective_at", "-id")

    def position_valid(self, position: str) -> bool:
        try:
            parsed = parse_datetime(position)
        except ValueError:
            return False
        return parsed is not None and parsed.tzinfo is not None


class LineCursorPagination(IdCursorPagination):
    """Rows of a file in its order: by line, then id."""

    ordering = ("line", "id")
