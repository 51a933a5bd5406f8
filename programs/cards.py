"""Member card numbers: 16 digits, the last a Luhn check digit.

The database draws them (``programs_card_number()``, migration 0013), so every insert
path gets one; this module checks and formats what a till or a customer types, so that a
mistyped digit or two swapped neighbours are refused before any lookup."""

import re

CARD_DIGITS = 16
_NOT_DIGIT = re.compile(r"[\s\-.]")


def luhn_check_digit(body: str) -> str:
    """The digit that makes ``body`` + digit pass the Luhn check."""
    total = 0
    for position, char in enumerate(reversed(body)):
        digit = int(char)
        if position % 2 == 0:  # the rightmost digit of the body is doubled
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def card_number_clean(text: str) -> str | None:
    """The card number in ``text`` (spaces, hyphens and dots allowed between digits), or
    None when it is not 16 digits with a correct check digit."""
    number = _NOT_DIGIT.sub("", text or "")
    if len(number) != CARD_DIGITS or not number.isascii() or not number.isdigit():
        return None
    if luhn_check_digit(number[:-1]) != number[-1]:
        return None
    return number


def card_number_display(number: str) -> str:
    """``9123 4567 8901 2345``: in groups of four, as printed on a card."""
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))
