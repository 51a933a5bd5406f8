"""The customer's proof at a till: the rotating code works once and for about a minute; a
PIN is hashed and locks after repeated failures, and the failures count even though the
request that carried them fails."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from programs.errors import PinInvalid, PinLocked, PinNotSet, ProofInvalid, ProofRequired
from programs.models import CardProof
from programs.services.card_proofs import (
    CODE_STEP_SECONDS,
    code_current,
    pin_error,
    pin_set,
    proof_check,
)
from programs.services.memberships import membership_enroll
from tests.factories import CustomerFactory, ProgramFactory

NOW = datetime(2026, 12, 4, 10, 0, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    membership, _ = membership_enroll(customer=CustomerFactory(), program=ProgramFactory())
    return membership


def test_nothing_sent_is_refused(member):
    with pytest.raises(ProofRequired):
        proof_check(member, None, now=NOW)
    with pytest.raises(ProofRequired):
        proof_check(member, {"code": " ", "pin": ""}, now=NOW)


def test_the_current_code_works_once_for_up_to_a_minute(member):
    code, valid_until = code_current(member, now=NOW)
    assert code.startswith(member.card_number + ".")
    assert valid_until - NOW <= timedelta(seconds=2 * CODE_STEP_SECONDS)
    proof_check(member, {"code": code}, now=NOW + timedelta(seconds=CODE_STEP_SECONDS))
    with pytest.raises(ProofInvalid):  # used
        proof_check(member, {"code": code}, now=NOW + timedelta(seconds=1))
    later, _ = code_current(member, now=NOW + timedelta(minutes=5))
    with pytest.raises(ProofInvalid):  # too old
        proof_check(member, {"code": later}, now=NOW + timedelta(minutes=6))


def test_the_digits_alone_work_and_another_card_or_member_does_not(member):
    code, _ = code_current(member, now=NOW)
    other, _ = membership_enroll(customer=CustomerFactory(), program=member.program)
    with pytest.raises(ProofInvalid):
        proof_check(other, {"code": code.split(".")[1]}, now=NOW)
    with pytest.raises(ProofInvalid):
        proof_check(member, {"code": other.card_number + "." + code.split(".")[1]}, now=NOW)
    proof_check(member, {"code": code.split(".")[1]}, now=NOW)


def test_an_older_code_is_refused_after_a_newer_one_was_used(member):
    older, _ = code_current(member, now=NOW)
    newer, _ = code_current(member, now=NOW + timedelta(seconds=CODE_STEP_SECONDS))
    proof_check(member, {"code": newer}, now=NOW + timedelta(seconds=CODE_STEP_SECONDS))
    with pytest.raises(ProofInvalid):
        proof_check(member, {"code": older}, now=NOW + timedelta(seconds=CODE_STEP_SECONDS))


@pytest.mark.django_db(transaction=True)
def test_two_tills_with_the_same_code_at_once_one_is_accepted(member):
    code, _ = code_current(member)
    results, start = [], threading.Barrier(8)

    def till():
        try:
            start.wait()
            proof_check(member, {"code": code})
            results.append("ok")
        except ProofInvalid:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=till) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ok"] + ["refused"] * 7


def test_pins_are_hashed_and_easy_ones_refused(member):
    with pytest.raises(PinNotSet):
        proof_check(member, {"pin": "4711"}, now=NOW)
    for easy in ("1111", "1234", "987654", "12a4", "123"):
        assert pin_error(easy)
        with pytest.raises(PinInvalid):
            pin_set(member, easy)
    pin_set(member, "4711")
    assert "4711" not in CardProof.objects.get(membership=member).pin_hash
    proof_check(member, {"pin": "4711"}, now=NOW)


def test_five_wrong_pins_lock_it_even_though_each_request_failed(member):
    pin_set(member, "4711")
    for _ in range(4):
        with pytest.raises(ProofInvalid):
            proof_check(member, {"pin": "0815"}, now=NOW)
    with pytest.raises(PinLocked):
        proof_check(member, {"pin": "0815"}, now=NOW)
    with pytest.raises(PinLocked):  # the right PIN too, while locked
        proof_check(member, {"pin": "4711"}, now=NOW + timedelta(minutes=14))
    proof_check(member, {"pin": "4711"}, now=NOW + timedelta(minutes=16))
    assert CardProof.objects.get(membership=member).pin_failures == 0


def test_the_lock_doubles_with_every_further_five_failures(member):
    pin_set(member, "4711")
    at = NOW
    for lock_minutes in (15, 30, 60):
        for _ in range(5):
            with pytest.raises((ProofInvalid, PinLocked)):
                proof_check(member, {"pin": "0815"}, now=at)
        card = CardProof.objects.get(membership=member)
        assert card.pin_locked_until == at + timedelta(minutes=lock_minutes)
        at = card.pin_locked_until + timedelta(seconds=1)


def test_setting_a_new_pin_lifts_the_lock(member):
    pin_set(member, "4711")
    for _ in range(5):
        with pytest.raises((ProofInvalid, PinLocked)):
            proof_check(member, {"pin": "0815"}, now=NOW)
    pin_set(member, "2580")
    proof_check(member, {"pin": "2580"}, now=NOW)
