"""Files staff download: text that starts like a formula is never one, in the CSV (a
leading apostrophe) and in Excel (a text cell); numbers stay numbers."""

import csv
import io
from decimal import Decimal

from openpyxl import load_workbook

from loyalty_site.core.downloads import csv_response, csv_write, xlsx_response

STARTS = ["=1+1", "+49 30 1234", "-Berg", "@SUM(A1)", "\tTab", "\rReturn"]
ROW = [*STARTS, -5, Decimal("-0.25"), "Anna\x0bAlt"]


def test_csv_escapes_each_formula_start_and_keeps_numbers():
    response = csv_response("x.csv", ["a"] * len(ROW), [ROW])

    text = b"".join(response.streaming_content).decode("utf-8")[1:]
    _header, row = list(csv.reader(io.StringIO(text)))
    assert row == [*(f"'{value}" for value in STARTS), "-5", "-0.25", "Anna\x0bAlt"]


def test_csv_written_to_a_file_is_the_csv_sent():
    file = io.BytesIO()

    csv_write(file, ["Name", "Straße"], [ROW, ROW])

    sent = b"".join(csv_response("x.csv", ["Name", "Straße"], [ROW, ROW]).streaming_content)
    assert file.getvalue() == sent
    assert file.getvalue().startswith("\ufeffName,Straße\r\n".encode())
    assert len(list(csv.reader(io.StringIO(file.getvalue().decode("utf-8"))))) == 3


def test_excel_stores_each_formula_start_as_text_and_numbers_as_numbers():
    response = xlsx_response("x.xlsx", ["a"] * len(ROW), [ROW], sheet_title="Test")

    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    cells = list(sheet.iter_rows())[1]
    read_back = [*STARTS[:-1], "\nReturn"]  # XML reads a carriage return as a line feed
    assert [cell.value for cell in cells] == [*read_back, -5, -0.25, "AnnaAlt"]
    assert [cell.data_type for cell in cells] == ["s"] * len(STARTS) + ["n", "n", "s"]
