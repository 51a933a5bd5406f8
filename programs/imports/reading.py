"""Reading an import file as a stream of rows: CSV as German spreadsheets write it too
(``;`` separator, decimal comma, Windows-1252 or UTF-8 with BOM; detected or chosen)
and Excel (openpyxl's read-only mode). Neither holds the file in memory: the stored parts
are read one by one (``PartsReader``) and parsed as they come.

A row is ``(line, {column: value})`` with the column names of the kind (headers in
German or English, see ``columns``); values are text from a CSV, the cell's value
(number, date, text) from Excel. A CSV line that is not valid in the file's encoding
keeps its bytes as surrogates (``surrogateescape``) so that the row can be reported
with its line and column instead of failing the whole file.
"""

import codecs
import csv
import io
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

from django.utils.translation import gettext as _

from programs.models import ImportFilePart, ImportJob

SAMPLE_BYTES = 256 * 1024
BAD_BYTES = re.compile("[\udc80-\udcff]")
UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")
csv.field_size_limit(1024 * 1024)


class FileUnreadable(Exception):
    """The file as a whole cannot be read (not CSV or Excel, no header, missing columns)."""


class PartsReader(io.RawIOBase):
    """The stored parts of a job's file as one binary stream, one part in memory."""

    def __init__(self, job_id: int):
        self._job_id = job_id
        self._number = 0
        self._buffer = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer and not self._done:
            part = (
                ImportFilePart.objects.filter(job_id=self._job_id, number__gt=self._number)
                .order_by("number")
                .values_list("number", "data")
                .first()
            )
            if part is None:
                self._done = True
            else:
                self._number, self._buffer = part[0], bytes(part[1])
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def file_open(job: ImportJob) -> io.BufferedReader:
    return io.BufferedReader(PartsReader(job.pk), buffer_size=256 * 1024)


@dataclass(frozen=True)
class Format:
    encoding: str
    delimiter: str
    decimal: str

    def as_dict(self) -> dict:
        return {"encoding": self.encoding, "delimiter": self.delimiter, "decimal": self.decimal}


def format_detect(job: ImportJob, sample: bytes) -> Format:
    """The encoding, separator and decimal mark: as staff chose them, else from the first
    bytes (a BOM or valid UTF-8 means UTF-8, anything else Windows-1252; the separator
    that splits the header line most; a decimal comma when ``;`` separates)."""
    encoding = job.encoding
    if encoding == "auto":
        if sample.startswith(codecs.BOM_UTF8):
            encoding = "utf-8"
        else:
            try:
                codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
                encoding = "utf-8"
            except UnicodeDecodeError:
                # Umlauts written as UTF-8 next to a stray byte: a UTF-8 file with a bad
                # line (reported as such), not a Windows file.
                encoding = "utf-8" if UTF8_SEQUENCE.search(sample) else "cp1252"
    delimiter = job.delimiter
    if delimiter == "auto":
        text = sample.decode(encoding, errors="replace").lstrip("\ufeff")
        header = text.splitlines()[0] if text else ""
        delimiter = max(";,\t|", key=header.count) if header else ";"
    decimal = job.decimal
    if decimal == "auto":
        decimal = "," if delimiter in (";", "\t") else "."
    return Format(encoding, delimiter, decimal)


def is_xlsx(sample: bytes) -> bool:
    return sample.startswith(b"PK\x03\x04")


def rows_read(job: ImportJob, fmt: Format, aliases: dict[str, str]) -> Iterator[tuple[int, dict]]:
    """Every data row of the file with its line number (the header is line 1)."""
    stream = file_open(job)
    if job.file_format == "xlsx":
        yield from _xlsx_rows(stream, aliases)
    else:
        yield from _csv_rows(stream, fmt, aliases)


def header_map(header: list, aliases: dict[str, str]) -> dict[int, str]:
    """Column index -> the kind's column name. Unknown columns are left out."""
    found: dict[int, str] = {}
    for index, name in enumerate(header):
        key = header_key(name)
        column = aliases.get(key)
        if column is not None and column not in found.values():
            found[index] = column
    return found


def header_key(name) -> str:
    text = str(name or "").strip().lstrip("\ufeff").lower()
    for old, new in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss"), ("-", "_"), (" ", "_")):
        text = text.replace(old, new)
    return text


def _csv_rows(stream, fmt: Format, aliases) -> Iterator[tuple[int, dict]]:
    encoding = "utf-8-sig" if fmt.encoding == "utf-8" else fmt.encoding
    text = io.TextIOWrapper(stream, encoding=encoding, errors="surrogateescape", newline="")
    reader = csv.reader(text, delimiter=fmt.delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise FileUnreadable(_("The file is empty.")) from None
    except csv.Error as exc:
        raise FileUnreadable(_("The file is not a readable CSV file: %s") % exc) from None
    columns = header_map(header, aliases)
    yield 1, {"__columns__": list(columns.values()), "__header__": header}
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num
            yield line, {"__error__": str(exc)}
            continue
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        yield line, {columns[i]: cell for i, cell in enumerate(row) if i in columns}


def _xlsx_rows(stream, aliases) -> Iterator[tuple[int, dict]]:
    from openpyxl import load_workbook

    # openpyxl needs a seekable file: spool the parts to a temporary file, not memory.
    with tempfile.TemporaryFile() as file:
        while chunk := stream.read(1024 * 1024):
            file.write(chunk)
        file.seek(0)
        try:
            workbook = load_workbook(file, read_only=True, data_only=True)
        except Exception as exc:
            raise FileUnreadable(_("The file is not a readable Excel file: %s") % exc) from None
        try:
            sheet = workbook.worksheets[0]
            rows = sheet.iter_rows(values_only=True)
            header = next(rows, None)
            if header is None:
                raise FileUnreadable(_("The file is empty."))
            columns = header_map(list(header), aliases)
            yield 1, {"__columns__": list(columns.values()), "__header__": list(header)}
            for line, row in enumerate(rows, start=2):
                if not any(cell not in (None, "") for cell in row):
                    continue
                yield (
                    line,
                    {
                        columns[i]: cell
                        for i, cell in enumerate(row)
                        if i in columns and cell is not None
                    },
                )
        finally:
            workbook.close()


def bad_bytes_column(values: dict) -> str | None:
    """The first column whose text has bytes the encoding could not read."""
    for column, value in values.items():
        if isinstance(value, str) and BAD_BYTES.search(value):
            return column
    return None
