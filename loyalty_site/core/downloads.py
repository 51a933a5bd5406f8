"""Files staff download: CSV streamed row by row, Excel written row by row (openpyxl's
write-only mode) to a temporary file and sent from there; a worker writes either to a
file (``csv_write``, ``xlsx_write``), byte for byte what the download sends. None holds
all rows in memory; ``rows`` is any iterable, typically a queryset read with ``iterator()``.

Text that customers typed (names) can start like a formula ("=HYPERLINK(...)", also
"+", "-", "@", a tab or a carriage return): in the CSV such text gets a leading
apostrophe, in Excel it is stored as a text cell, never as a formula. Numbers stay
numbers in both (-5 points is the number -5). Control characters Excel's file format
cannot hold are left out of Excel text cells (the CSV keeps them).
"""

import csv
import re
import tempfile
from collections.abc import Iterable, Iterator

from django.http import FileResponse, StreamingHttpResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
SHEET_NAME_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


class _Echo:
    def write(self, value):
        return value


def _csv_safe(value):
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return f"'{value}"
    return value


def csv_lines(header: Iterable, rows: Iterable[Iterable]) -> Iterator[str]:
    """The CSV as text, line by line: a byte order mark (Excel opens UTF-8 with umlauts
    correctly with one), ``header``, then ``rows``, formulas escaped."""
    writer = csv.writer(_Echo())
    yield "\ufeff"
    yield writer.writerow([str(name) for name in header])
    for row in rows:
        yield writer.writerow([_csv_safe(value) for value in row])


def csv_write(file, header: Iterable, rows: Iterable[Iterable]) -> None:
    """Write the CSV ``csv_response`` sends to ``file`` (a binary file), in UTF-8."""
    for line in csv_lines(header, rows):
        file.write(line.encode("utf-8"))


def csv_response(
    filename: str, header: Iterable, rows: Iterable[Iterable]
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(header, rows), content_type=CSV_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def xlsx_write(file, header: Iterable, rows: Iterable[Iterable], *, sheet_title: str) -> None:
    """Write a workbook of one sheet to ``file`` (a binary file): ``header``, then
    ``rows`` (numbers, text, dates; no time zones)."""
    workbook = Workbook(write_only=True)
    # Excel allows 31 characters and none of []:*?/\ in a sheet's name.
    sheet = workbook.create_sheet(title=SHEET_NAME_FORBIDDEN.sub(" ", sheet_title)[:31])

    def cell(value):
        if not isinstance(value, str):
            return value
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if not value.startswith(FORMULA_START):
            return value
        text = WriteOnlyCell(sheet, value)
        text.data_type = "s"  # text: openpyxl would store "=..." as a formula
        return text

    sheet.append([str(name) for name in header])
    for row in rows:
        sheet.append([cell(value) for value in row])
    workbook.save(file)


def xlsx_response(
    filename: str, header: Iterable, rows: Iterable[Iterable], *, sheet_title: str
) -> FileResponse:
    """One sheet (``xlsx_write``), written to a temporary file and sent from there."""
    file = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it once sent
    xlsx_write(file, header, rows, sheet_title=sheet_title)
    file.seek(0)
    return FileResponse(file, as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE)
