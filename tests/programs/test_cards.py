"""Card numbers: drawn by the database, checked by a Luhn digit, unique per membership."""

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from programs.cards import card_number_clean, card_number_display, luhn_check_digit
from programs.services.memberships import membership_enroll
from tests.factories import CustomerFactory, ProgramFactory

bodies = st.text(alphabet="0123456789", min_size=15, max_size=15).filter(lambda b: b[0] != "0")


def test_a_known_number_passes_and_its_typos_do_not():
    # 7992739871 is the Luhn example of ISO/IEC 7812-1: its check digit is 3.
    assert luhn_check_digit("7992739871") == "3"
    number = "4063671630951477"
    assert card_number_clean("4063 6716-3095.1477") == number
    assert card_number_clean("4063671630951478") is None  # last digit off by one
    assert card_number_clean("4063671630915477") is None  # two neighbours swapped
    assert card_number_clean("406367163095147") is None  # a digit short
    assert card_number_clean("\uff14\uff1063671630951477") is None  # full-width digits
    assert card_number_display(number) == "4063 6716 3095 1477"


@given(bodies, st.integers(0, 14), st.integers(1, 9))
def test_any_single_wrong_digit_is_refused(body, position, shift):
    number = body + luhn_check_digit(body)
    wrong = number[:position] + str((int(number[position]) + shift) % 10) + number[position + 1 :]
    assert card_number_clean(number) == number
    assert card_number_clean(wrong) is None


@pytest.mark.django_db
def test_the_database_draws_numbers_that_the_check_accepts():
    with connection.cursor() as cursor:
        cursor.execute("SELECT programs_card_number() FROM generate_series(1, 500)")
        numbers = [row[0] for row in cursor.fetchall()]
    assert all(card_number_clean(n) == n for n in numbers)
    assert len(set(numbers)) == 500
    assert {n[0] for n in numbers} <= set("123456789")


@pytest.mark.django_db
def test_every_enrolment_gets_its_own_card_number():
    program = ProgramFactory()
    first, _ = membership_enroll(customer=CustomerFactory(), program=program)
    second, _ = membership_enroll(customer=CustomerFactory(), program=program)
    assert card_number_clean(first.card_number) == first.card_number
    assert first.card_number != second.card_number
    first.refresh_from_db()
    assert card_number_clean(first.card_number) == first.card_number
