"""``GET /settlement``: a partner's own figures of a month and the program's totals, never
another partner's; only for its own programs; the month as YYYY-MM.

In the program "treue" (a point is worth 0.01 EUR) in March 2026: the web shop (A) records
a purchase of 100.00 (100 points); the merchant (B) one of 300.00 (300 points) and takes
0.50 paid with 50 points at its till. A purchase of 40.00 at A in February does not count.
"""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from programs.services.holds import hold_capture, hold_place
from programs.services.memberships import membership_enroll
from programs.services.purchases import purchase_record
from tests.api.conftest import assert_problem, client_for
from tests.factories import CustomerFactory, PartnerFactory, ProgramFactory
from tests.programs.settlement_world import clock

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
URL = "/api/v1/settlement"


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=BERLIN)


def buy(partner, membership, amount, moment, order_id):
    with clock(moment):
        purchase_record(
            partner=partner,
            membership=membership,
            order_id=order_id,
            amount=Decimal(amount),
            currency="EUR",
            occurred_at=moment,
            award_now=True,
        )


@pytest.fixture
def march(program, partner, partner_b):
    erika, max_ = (
        membership_enroll(customer=CustomerFactory(), program=program, joined_at=at(1, 1))[0]
        for _ in range(2)
    )
    buy(partner, erika, "40.00", at(2, 10), "A-1")
    buy(partner, erika, "100.00", at(3, 5), "A-2")
    buy(partner_b, max_, "300.00", at(3, 6), "B-1")
    with clock(at(3, 7)):
        hold, _ = hold_place(
            membership=max_, partner=partner_b, amount=Decimal("0.50"), idempotency_key="k-1"
        )
        hold_capture(hold=hold)


def test_a_partner_sees_its_own_figures_and_the_totals(api, march):
    response = api.get(URL, {"program": "treue", "month": "2026-03"})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body == {
        "program": "treue",
        "month": "2026-03",
        "currency": "EUR",
        "point_value": "0.0100",
        "partner": {
            "points_issued": 100,
            "points_redeemed": 0,
            "value_issued": "1.00",
            "value_redeemed": "0.00",
            "net": "1.00",
        },
        "totals": {
            "points_issued": 400,
            "points_redeemed": 50,
            "value_issued": "4.00",
            "value_redeemed": "0.50",
            "net": "3.50",
        },
    }


def test_the_other_partner_sees_its_own_row(api_b, march):
    body = api_b.get(URL, {"program": "treue", "month": "2026-03"}).json()

    assert body["partner"] == {
        "points_issued": 300,
        "points_redeemed": 50,
        "value_issued": "3.00",
        "value_redeemed": "0.50",
        "net": "2.50",
    }
    assert body["totals"]["points_issued"] == 400


def test_another_month(api, march):
    body = api.get(URL, {"program": "treue", "month": "2026-02"}).json()
    assert (body["partner"]["points_issued"], body["totals"]["points_issued"]) == (40, 40)


def test_a_read_key_is_enough_and_needed(partner, march):
    query = {"program": "treue", "month": "2026-03"}
    assert client_for(partner, scopes=("read",)).get(URL, query).status_code == 200
    refused = client_for(partner, scopes=("write",)).get(URL, query)
    assert_problem(refused, 403, "insufficient_scope")


def test_only_programs_the_partner_takes_part_in(api, march):
    ProgramFactory(slug="exklusiv")  # exists, but the web shop is not in it
    outsider = client_for(PartnerFactory(programs=[ProgramFactory(slug="anderswo")]))

    for client, slug in ((api, "exklusiv"), (api, "gibt-es-nicht"), (outsider, "treue")):
        body = assert_problem(
            client.get(URL, {"program": slug, "month": "2026-03"}), 400, "validation_error"
        )
        assert body["errors"][0]["field"] == "program"
        assert body["errors"][0]["code"] == "unknown_program"


@pytest.mark.parametrize(
    ("month", "code"),
    [
        ("2026-3", "invalid"),
        ("03/2026", "invalid"),
        ("2026-13", "invalid"),
        ("1989-12", "before_history_start"),
        ("2999-01", "future"),
    ],
)
def test_a_month_that_cannot_be_settled_says_why(api, month, code):
    body = assert_problem(
        api.get(URL, {"program": "treue", "month": month}), 400, "validation_error"
    )
    (error,) = body["errors"]
    assert (error["field"], error["code"]) == ("month", code)
    if code == "invalid":
        assert "YYYY-MM" in error["detail"]


def test_program_and_month_are_required(api):
    body = assert_problem(api.get(URL), 400, "validation_error")
    assert {(e["field"], e["code"]) for e in body["errors"]} == {
        ("program", "required"),
        ("month", "required"),
    }
