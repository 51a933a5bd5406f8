"""Reading the staff exports back the way a spreadsheet would: the CSV parsed, the Excel
file opened with openpyxl; staff in one of the roles the migration creates."""

import csv
import io

from django.contrib.auth.models import Group
from django.http import StreamingHttpResponse
from openpyxl import load_workbook

from tests.factories import UserFactory


def csv_rows(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)  # streamed, never built in memory
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


def xlsx_rows(response) -> list[tuple]:
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    return [tuple(cell.value for cell in row) for row in sheet.iter_rows()]


def xlsx_cells(response) -> list[list]:
    """The cells themselves (value and data type) of the first sheet."""
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    return [list(row) for row in sheet.iter_rows()]


def staff_in(role: str):
    user = UserFactory(username=f"{role.lower().replace('-', '_')}_export", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user
