"""Reading one cell: numbers with a decimal comma or point, dates as German and ISO
spreadsheets write them, yes/no. Each raises ``CellError`` with a message saying what is
wrong and how to fix it (in the active language)."""

from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

from django.utils import timezone
from django.utils.translation import gettext as _

FORMULA_START = ("=", "+", "-", "@")
DATE_FORMATS = ("%d.%m.%Y", "%Y-%m-%d", "%d.%m.%y", "%d/%m/%Y")
DATETIME_FORMATS = (
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M",
)
YES = {"1", "ja", "j", "yes", "y", "true", "wahr", "x"}
NO = {"0", "nein", "n", "no", "false", "falsch"}


class CellError(Exception):
    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column = column
        self.message = message


def text(values: dict, column: str, *, max_length: int = 150) -> str:
    value = values.get(column)
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # an id typed into Excel as a number
    result = str(value).strip()
    if len(result) > max_length:
        raise CellError(
            column, _("At most %(max)s characters are allowed here.") % {"max": max_length}
        )
    return result


def plain_text(values: dict, column: str, *, max_length: int = 150) -> str:
    """Text that ends up in names and exports: it may not start like a formula."""
    result = text(values, column, max_length=max_length)
    if result.startswith(FORMULA_START):
        raise CellError(
            column,
            _(
                "The text starts with '%(char)s', like a spreadsheet formula. Remove the "
                "character (or the formula) and keep the plain text."
            )
            % {"char": result[0]},
        )
    return result


def integer(values: dict, column: str) -> int | None:
    value = values.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise CellError(column, _("Enter a whole number of points, e.g. 1500."))
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise CellError(
            column, _("Points are whole numbers: %(value)s has decimals.") % {"value": value}
        )
    cleaned = str(value).strip().replace(" ", "").replace("\u00a0", "")
    cleaned = cleaned.replace(".", "") if cleaned.count(".") and "," not in cleaned else cleaned
    try:
        return int(cleaned)
    except ValueError:
        raise CellError(
            column,
            _("'%(value)s' is not a whole number of points. Enter digits only, e.g. 1500.")
            % {"value": value},
        ) from None


def money(values: dict, column: str, decimal_mark: str) -> Decimal | None:
    value = values.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(str(value)).quantize(Decimal("0.01"))
    cleaned = str(value).strip().replace(" ", "").replace("\u00a0", "").replace("€", "")
    if decimal_mark == ",":
        cleaned = cleaned.replace(".", "").replace(",", ".")
    else:
        cleaned = cleaned.replace(",", "")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        example = "49,90" if decimal_mark == "," else "49.90"
        raise CellError(
            column,
            _("'%(value)s' is not an amount. Write it like %(example)s.")
            % {"value": value, "example": example},
        ) from None
    if amount != amount.quantize(Decimal("0.01")):
        raise CellError(column, _("An amount has at most two decimal places."))
    return amount.quantize(Decimal("0.01"))


def day(values: dict, column: str) -> date | None:
    value = values.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    cleaned = str(value).strip()
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).date()  # noqa: DTZ007 - a date only
        except ValueError:
            continue
    try:
        return moment(values, column).date()
    except CellError:
        raise CellError(
            column,
            _("'%(value)s' is not a date. Write it as 31.12.2025 or 2025-12-31.")
            % {"value": value},
        ) from None


def moment(values: dict, column: str) -> datetime | None:
    """A date and time in the program's time zone (midnight for a date alone)."""
    value = values.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    if isinstance(value, date):
        return timezone.make_aware(datetime.combine(value, time.min))
    cleaned = str(value).strip()
    try:
        parsed = datetime.fromisoformat(cleaned)
        return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)
    except ValueError:
        pass
    for fmt in DATETIME_FORMATS + DATE_FORMATS:
        try:
            return timezone.make_aware(datetime.strptime(cleaned, fmt))  # noqa: DTZ007
        except ValueError:
            continue
    raise CellError(
        column,
        _("'%(value)s' is not a date. Write it as 31.12.2025 14:30 or 2025-12-31T14:30.")
        % {"value": value},
    )


def yes_no(values: dict, column: str) -> bool | None:
    value = values.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return value
    cleaned = str(value).strip().lower()
    if cleaned in YES:
        return True
    if cleaned in NO:
        return False
    raise CellError(column, _("Write ja or nein (yes or no), not '%(value)s'.") % {"value": value})
