"""What-if before saving: a proposed change replayed against the last months of purchases.

The tier what-if is checked twice on a small program: against tier moves and points worked
out by hand, and against the real thing, the change saved on a second program and the
same purchases recorded and awarded there through the award path, each at its own time."""

import re
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from programs.models import (
    Campaign,
    Program,
    Purchase,
    Tier,
    TierMetric,
    TierWindow,
    WhatIfKind,
    WhatIfRun,
    WhatIfStatus,
)
from programs.services.memberships import membership_enroll
from programs.services.purchases import LineData, purchase_record
from programs.what_if.campaign import draft_data, what_if_campaign
from programs.what_if.purchases import purchases_stream
from programs.what_if.runs import what_if_run, what_if_runs_sweep, what_if_start
from programs.what_if.summary import InvalidProposal
from programs.what_if.tiers import tier_proposal_clean, what_if_tiers
from tests.factories import CustomerFactory, PartnerFactory, ProgramFactory

NOW = timezone.now().replace(microsecond=0)

# Basis from 0 (x1), Silber from 100 EUR spend (x1.5), Gold from 300 (x2).
TIERS = (("Basis", 0, "1"), ("Silber", 100, "1.5"), ("Gold", 300, "2"))
# The proposal: Silber from 150, Gold from 250.
PROPOSED = {"Silber": "150", "Gold": "250"}
# (member, days ago, amount), in the order they happened.
PURCHASES = [
    ("A", 300, "80.00"),
    ("C", 280, "60.00"),
    ("B", 250, "120.00"),
    ("A", 200, "40.00"),
    ("B", 150, "100.00"),
    ("A", 100, "200.00"),
    ("B", 50, "50.00"),
    ("C", 20, "60.00"),
]


def tiered_program(thresholds=None, **settings) -> Program:
    program = ProgramFactory(point_value=Decimal("0.01"), **settings)
    for rank, (name, threshold, multiplier) in enumerate(TIERS):
        Tier.objects.create(
            program=program,
            name=name,
            rank=rank,
            threshold=Decimal((thresholds or {}).get(name, threshold)),
            earn_multiplier=Decimal(multiplier),
        )
    return program


def at_time(moment):
    return mock.patch.object(timezone, "now", return_value=moment)


def record_history(program: Program, purchases) -> dict:
    """Enrol the members, then record and award each purchase at its own time through the
    real path (``purchase_record``, award at once), as a partner would have sent them.
    ``purchases``: (member, days ago or time, amount[, lines])."""
    partner = PartnerFactory(programs=[program])
    moments = [
        NOW - timedelta(days=when) if isinstance(when, int) else when
        for _member, when, *_rest in purchases
    ]
    members = {}
    with at_time(min(moments) - timedelta(days=1)):
        for key in sorted({row[0] for row in purchases}):
            members[key], _ = membership_enroll(customer=CustomerFactory(), program=program)
    for number, ((key, _days, amount, *lines), moment) in enumerate(
        zip(purchases, moments, strict=True)
    ):
        with at_time(moment + timedelta(minutes=1)):
            purchase_record(
                partner=partner,
                membership=members[key],
                order_id=f"{program.slug}-{number}",
                amount=Decimal(amount),
                currency="EUR",
                occurred_at=moment,
                lines=[LineData(**line) for line in (lines[0] if lines else [])],
                award_now=True,
            )
    for membership in members.values():
        membership.refresh_from_db()
    return members


def points_of(program: Program) -> int:
    return sum(Purchase.objects.filter(program=program).values_list("points_awarded", flat=True))


def tier_names(members: dict) -> dict:
    return {key: m.tier.name if m.tier else None for key, m in members.items()}


def proposal_for(program: Program, names: dict, **changes) -> dict:
    ids = dict(program.tiers.values_list("name", "pk"))
    thresholds = {ids[name]: value for name, value in names.items()}
    return tier_proposal_clean(program, {"thresholds": thresholds, **changes})


def by_name(rows, key="name") -> dict:
    return {row[key]: row for row in rows}


@pytest.mark.django_db
def test_tier_what_if_gives_the_moves_and_points_worked_out_by_hand():
    program = tiered_program()
    members = record_history(program, PURCHASES)
    # Today's rules, each member from Basis:
    #   A: 80 (Basis, 80 P, spend 80) + 40 (Basis, 40 P, spend 120: Silber)
    #      + 200 (Silber x1.5 = 300 P, spend 320: Gold)            = 420 P, Gold
    #   B: 120 (Basis, 120 P: Silber) + 100 (x1.5 = 150 P) + 50 (x1.5 = 75 P)
    #                                                            = 345 P, Silber
    #   C: 60 + 60 (Basis, spend 120: Silber)                      = 120 P, Silber
    #   885 P in all.
    assert tier_names(members) == {"A": "Gold", "B": "Silber", "C": "Silber"}
    assert points_of(program) == 885
    # Silber from 150, Gold from 250:
    #   A: 80 + 40 (spend 120: still Basis) + 200 (Basis, 200 P, spend 320: Gold) = 320 P
    #   B: 120 + 100 (Basis, spend 220: Silber) + 50 (x1.5 = 75 P, spend 270: Gold) = 295 P
    #   C: 60 + 60 (spend 120: Basis)                                            = 120 P
    #   735 P in all: 150 P fewer, 1.50 EUR less liability at 0.01 EUR a point.
    result = what_if_tiers(program, proposal_for(program, PROPOSED), 12, now=NOW)

    assert result["purchases"] == 8
    assert result["members"] == 3
    tiers = by_name(result["tiers"])
    assert [(t["members_now"], t["members_proposed"]) for t in tiers.values()] == [
        (0, 1),  # Basis: C
        (2, 0),  # Silber: B and C today
        (1, 2),  # Gold: A today; A and B with the change
    ]
    assert tiers["Gold"]["threshold_proposed"] == "250"
    moves = {(m["from"], m["to"]): (m["members"], m["direction"]) for m in result["moves"]}
    assert moves == {("Silber", "Gold"): (1, "up"), ("Silber", "Basis"): (1, "down")}
    assert (result["moved_up"], result["moved_down"]) == (1, 1)
    assert (result["points_now"], result["points_proposed"]) == (885, 735)
    assert result["points_difference"] == -150
    assert (result["liability_change"], result["currency"]) == ("-1.50", "EUR")


EQUIVALENCE_CASES = {
    "thresholds": (PURCHASES, 12, PROPOSED, {}),
    # A window reaching back before the replayed year, figures leaving the rolling window.
    "rolling window over 18 months": (
        [
            ("A", 520, "250.00"),
            ("B", 500, "90.00"),
            ("A", 200, "80.00"),
            ("B", 100, "200.00"),
            ("A", 30, "150.00"),
            ("C", 10, "400.00"),
        ],
        18,
        {"Silber": "200", "Gold": "350"},
        {},
    ),
    # Another window and metric: points earned in the calendar year.
    "calendar year, points": (
        [
            ("A", 400, "90.00"),
            ("B", 380, "150.00"),
            ("A", 300, "60.00"),
            ("B", 60, "120.00"),
            ("A", 40, "40.00"),
            ("C", 5, "310.00"),
        ],
        15,
        {"Silber": "120"},
        {"tier_window": TierWindow.CALENDAR_YEAR, "tier_metric": TierMetric.POINTS},
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", EQUIVALENCE_CASES, ids=list(EQUIVALENCE_CASES))
def test_tier_what_if_equals_saving_the_change_and_replaying_the_purchases(case):
    purchases, months, thresholds, changes = EQUIVALENCE_CASES[case]
    today = tiered_program()
    today_members = record_history(today, purchases)
    result = what_if_tiers(today, proposal_for(today, thresholds, **changes), months, now=NOW)

    # The change saved (on a fresh program of its own) and the same purchases replayed.
    saved = tiered_program(thresholds, **changes)
    saved_members = record_history(saved, purchases)

    now_tiers, new_tiers = tier_names(today_members), tier_names(saved_members)
    assert result["points_now"] == points_of(today)
    assert result["points_proposed"] == points_of(saved)
    counts = {row["name"]: (row["members_now"], row["members_proposed"]) for row in result["tiers"]}
    for name in counts:
        expected = (list(now_tiers.values()).count(name), list(new_tiers.values()).count(name))
        assert counts[name] == expected, name
    moved = {(m["from"], m["to"]): m["members"] for m in result["moves"]}
    expected_moves = {}
    for key in now_tiers:
        if now_tiers[key] != new_tiers[key]:
            pair = (now_tiers[key], new_tiers[key])
            expected_moves[pair] = expected_moves.get(pair, 0) + 1
    assert moved == expected_moves
    assert any(now_tiers[key] != new_tiers[key] for key in now_tiers), "the case moves no one"


# --- the campaign what-if ----------------------------------------------------------------

TEA = {"sku": "", "category": "tea", "quantity": 1}
FOOD = {"sku": "", "category": "food", "quantity": 1}


def line(kind: dict, price: str) -> dict:
    return {**kind, "unit_price": Decimal(price)}


def draft(program: Program, **fields) -> dict:
    values = {
        "name": "Teewochen",
        "starts_at": NOW + timedelta(days=10),
        "ends_at": NOW + timedelta(days=40),  # 30 days: replayed over the last 30
        **fields,
    }
    return draft_data(Campaign(program=program, **values), [])


@pytest.mark.django_db
def test_campaign_what_if_gives_the_bonus_worked_out_by_hand_caps_and_budget():
    program = tiered_program()
    Tier.objects.filter(program=program).exclude(name="Basis").delete()  # one tier, x1
    day = timezone.localtime(NOW - timedelta(days=25)).replace(hour=10, minute=0, second=0)
    purchases = [  # (member, time, lines)
        ("A", NOW - timedelta(days=40), [line(TEA, "50.00")]),
        ("A", day, [line(TEA, "15.00"), line(FOOD, "10.00")]),
        ("A", day.replace(hour=15), [line(TEA, "12.00")]),
        ("B", NOW - timedelta(days=20), [line(TEA, "40.00")]),
        ("A", NOW - timedelta(days=10), [line(TEA, "30.00")]),
        ("B", NOW - timedelta(days=5), [line(TEA, "10.00")]),
        ("C", NOW - timedelta(days=3), [line(FOOD, "20.00")]),
    ]
    record_history(
        program,
        [
            (key, at, str(sum(li["unit_price"] for li in lines)), lines)
            for key, at, lines in purchases
        ],
    )

    # Double points on tea, at most 30 bonus points per member and 20 a day, 45 in all:
    #   A 40 days ago: before the campaign's 30 days                           0
    #   A day 5, 10:00: tea 15 -> 15 (day cap 20 left)                        15 (budget 30)
    #   A day 5, 15:00: tea 12 -> 12, day cap 5 left                           5 (budget 25)
    #   B 20 days ago: tea 40 -> 40, day cap 20                               20 (budget 5)
    #   A 10 days ago: tea 30 -> 30, member cap 10 left, budget 5              5 (budget 0)
    #   B 5 days ago: tea 10 -> the budget is spent                            0
    #   C 3 days ago: no tea                                                   0
    # Without the campaign: 50 + 25 + 12 + 40 + 30 + 10 + 20 = 187 points.
    proposal = draft(
        program,
        categories=["tea"],
        multiplier=Decimal(2),
        cap_per_member=30,
        cap_per_member_day=20,
        budget_points=45,
    )
    result = what_if_campaign(program, proposal, 2, now=NOW)

    assert result["purchases"] == 7
    assert result["bonus_points"] == 45
    assert result["members_receiving"] == 2
    assert result["purchases_affected"] == 4
    assert (result["points_without"], result["points_with"]) == (187, 232)
    assert (result["liability_change"], result["currency"]) == ("0.45", "EUR")
    assert result["budget_left"] == 0
    # Spent 20 days into the 30: on day 21 of the planned campaign.
    assert result["budget_exhausted_day"] == 21
    assert (
        result["budget_exhausted_planned"]
        == (NOW + timedelta(days=10) + timedelta(days=20)).isoformat()
    )
    assert result["campaign"]["replayed_start"] == (NOW - timedelta(days=30)).isoformat()


@pytest.mark.django_db
def test_campaign_what_if_fixed_bonus_first_purchase_minimum_and_holdout():
    program = tiered_program()
    rows = [
        ("D", 60, "30.00"),  # D bought before the replayed month: never a first purchase
        ("A", 20, "25.00"),  # first purchase, 25 >= 20: +5
        ("B", 15, "10.00"),  # first purchase, below the minimum spend
        ("A", 10, "40.00"),  # not the first purchase
        ("D", 5, "50.00"),
        ("C", 2, "20.00"),  # first purchase: +5
    ]
    record_history(program, rows)
    proposal = draft(
        program, effect="fixed", bonus_points=5, min_spend=Decimal("20"), first_purchase_only=True
    )
    result = what_if_campaign(program, proposal, 1, now=NOW)
    assert (result["bonus_points"], result["members_receiving"]) == (10, 2)
    assert result["points_difference"] == 10
    assert result["audience"] is None

    # Half of the four members held out: two are reached, and only their purchases count.
    result = what_if_campaign(program, {**proposal, "holdout_percent": 50}, 1, now=NOW)
    assert (result["audience"], result["holdout"]) == (2, 2)
    assert result["bonus_points"] in (0, 5, 10)
    assert result["bonus_points"] == 5 * result["members_receiving"]


# --- the background run ------------------------------------------------------------------


def tier_ids(program: Program, thresholds: dict) -> dict:
    ids = dict(program.tiers.values_list("name", "pk"))
    return {str(ids[name]): value for name, value in thresholds.items()}


@pytest.mark.django_db
def test_a_run_is_computed_in_the_background_with_its_progress(django_capture_on_commit_callbacks):
    program = tiered_program()
    record_history(program, PURCHASES)
    with django_capture_on_commit_callbacks() as enqueued:
        run = what_if_start(
            program=program,
            kind=WhatIfKind.TIERS,
            proposal={"thresholds": tier_ids(program, PROPOSED)},
            months=12,
        )
    assert run.status == WhatIfStatus.QUEUED
    assert len(enqueued) == 1  # the task, once the run is committed

    with CaptureQueriesContext(connection) as queries:
        for callback in enqueued:
            callback()  # the task runs (eagerly, as a worker would)
    run.refresh_from_db()
    assert run.status == WhatIfStatus.DONE
    assert run.progress == 100
    assert run.result["points_proposed"] == 735
    assert run.result["liability_change"] == "-1.50"
    assert run.started_at <= run.finished_at
    # the page's progress bar moved while the eight purchases were replayed
    written = [
        int(found)
        for query in queries.captured_queries
        if query["sql"].startswith('UPDATE "programs_whatifrun"')
        for found in re.findall(r'SET "progress" = (\d+) WHERE', query["sql"])
    ]
    assert written == [12, 25, 37, 50, 62, 75, 87, 99]

    assert what_if_run(run.pk) is None  # delivered twice: computed once
    run.refresh_from_db()
    assert run.result["points_proposed"] == 735


@pytest.mark.django_db
def test_a_failing_run_stores_its_error():
    program = tiered_program()
    run = WhatIfRun.objects.create(
        program=program, kind=WhatIfKind.CAMPAIGN, months=12, proposal={"name": "ohne Daten"}
    )
    what_if_run(run.pk)
    run.refresh_from_db()
    assert run.status == WhatIfStatus.FAILED
    assert run.error == "Die Aktion braucht einen Beginn und ein Ende danach."
    assert run.finished_at is not None
    assert run.result is None


@pytest.mark.django_db
def test_a_proposal_that_cannot_be_replayed_is_refused_before_it_starts():
    program = tiered_program()
    other = tiered_program()
    foreign = other.tiers.get(name="Gold")
    with pytest.raises(InvalidProposal):
        what_if_start(
            program=program,
            kind=WhatIfKind.TIERS,
            proposal={"thresholds": {str(foreign.pk): "10"}},
            months=12,
        )
    with pytest.raises(InvalidProposal):
        what_if_start(program=program, kind=WhatIfKind.TIERS, proposal={}, months=0)
    assert not WhatIfRun.objects.exists()


@pytest.mark.django_db
def test_runs_that_can_no_longer_finish_are_failed_not_left_running():
    program = tiered_program()
    now = timezone.now()
    stuck = WhatIfRun.objects.create(
        program=program, kind=WhatIfKind.TIERS, proposal={}, status=WhatIfStatus.RUNNING
    )
    WhatIfRun.objects.filter(pk=stuck.pk).update(started_at=now - timedelta(hours=2))
    lost = WhatIfRun.objects.create(program=program, kind=WhatIfKind.TIERS, proposal={})
    WhatIfRun.objects.filter(pk=lost.pk).update(created_at=now - timedelta(hours=2))
    fresh = WhatIfRun.objects.create(
        program=program, kind=WhatIfKind.TIERS, proposal={}, status=WhatIfStatus.RUNNING
    )
    WhatIfRun.objects.filter(pk=fresh.pk).update(started_at=now - timedelta(minutes=1))

    assert what_if_runs_sweep() == 2
    statuses = dict(WhatIfRun.objects.values_list("pk", "status"))
    assert statuses == {
        stuck.pk: WhatIfStatus.FAILED,
        lost.pk: WhatIfStatus.FAILED,
        fresh.pk: WhatIfStatus.RUNNING,
    }
    assert "Starten Sie sie erneut" in WhatIfRun.objects.get(pk=stuck.pk).error


@pytest.mark.django_db
def test_the_stream_gives_the_purchases_in_time_order_with_their_lines():
    program = tiered_program()
    odd = "SKU\x1fmit\x1eSteuerzeichen"  # the separators the stream joins lines with
    record_history(
        program,
        [
            ("A", 3, "12.50", [line(TEA, "10.00"), {**line(FOOD, "2.50"), "sku": odd}]),
            ("B", 9, "7.00"),  # no lines: the purchase is one line
            ("A", 5, "4.00", [line(FOOD, "4.00")]),
        ],
    )
    seen = []
    rows = list(
        purchases_stream(
            program.pk, NOW - timedelta(days=30), NOW, lambda done, total: seen.append(done)
        )
    )
    assert [(row.amount, row.occurred_at) for row in rows] == [
        (Decimal("7.00"), NOW - timedelta(days=9)),
        (Decimal("4.00"), NOW - timedelta(days=5)),
        (Decimal("12.50"), NOW - timedelta(days=3)),
    ]
    assert rows[0].lines == []
    assert [tuple(li) for li in rows[2].lines] == [
        (Decimal("10.00"), "tea", ""),
        (Decimal("2.50"), "food", odd),
    ]
    assert seen == [1, 2, 3, 3]  # every 5 % (here: each purchase), and at the end
