"""Write ``members.xlsx``, the Excel sample of the members import (English headers, dates
as Excel dates, points as numbers), next to this script:

    .venv/bin/python docs/import-samples/make_xlsx.py

The file is committed; run this again only after changing the rows below
(``tests/programs/imports/test_sample_files.py`` checks the file against the code).
"""

from datetime import date
from pathlib import Path

from openpyxl import Workbook

HEADER = [
    "external_id",
    "email",
    "first_name",
    "last_name",
    "language",
    "birth_date",
    "email_marketing",
    "email_surveys",
    "joined_at",
    "tier",
    "opening_balance",
    "earned_at",
    "expires_at",
]
ROWS = [
    ["E-2001", "maya.fischer@import.example", "Maya", "Fischer", "de", date(1988, 4, 12),
     "yes", "yes", date(2024, 5, 1), "Silber", 640, date(2025, 11, 30), date(2030, 12, 31)],
    ["E-2002", "tom.baker@import.example", "Tom", "Baker", "en", None,
     "no", "yes", date(2025, 2, 14), "Bronze", 90, None, None],
    ["E-2003", "", "Paula", "Nowak", "de", date(1975, 9, 3),
     None, None, date(2023, 8, 20), "Gold", 1800, date(2025, 6, 1), date(2030, 12, 31)],
]  # fmt: skip


def main() -> Path:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "members"
    sheet.append(HEADER)
    for row in ROWS:
        sheet.append(row)
    for column in ("F", "I", "L", "M"):
        for cell in sheet[column][1:]:
            cell.number_format = "yyyy-mm-dd"
    path = Path(__file__).with_name("members.xlsx")
    workbook.save(path)
    return path


if __name__ == "__main__":
    print(main())  # noqa: T201 - a script's answer
