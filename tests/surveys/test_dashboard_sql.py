"""Every figure of the dashboard recomputed from the raw tables with plain SQL, for every
combination of the filters program x partner x months (and both granularities), and
compared with what the dashboard shows (its context and its CSV exports) and what the
partner API answers.

The SQL here is written from the definitions in docs/metrics.md, independently of
``surveys.figures`` (per-member subqueries and NOT EXISTS instead of grouped joins and
DISTINCT ON). The predictive figures (BG/NBD, Gamma-Gamma) are tested elsewhere."""

import csv
import io
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from itertools import product

import pytest
from dateutil.relativedelta import relativedelta
from django.core.cache import cache
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from surveys.figures.spans import WINDOW_MONTHS
from surveys.models import MetricSnapshot
from surveys.services.snapshots import snapshots_build
from tests.api.conftest import client_for
from tests.surveys.coalition import build

pytestmark = pytest.mark.django_db
DASHBOARD = "/admin/surveys/metricsdashboard/"

# The partner rule: all members, or the memberships of the customers the partner linked,
# in the partner's programs.
IN_SCOPE = """
    (%(program)s::bigint IS NULL OR m.program_id = %(program)s::bigint)
    AND (%(partner)s::bigint IS NULL OR EXISTS (
        SELECT 1 FROM programs_partnercustomer link
        JOIN programs_partner_programs pp ON pp.partner_id = link.partner_id
        WHERE link.customer_id = m.customer_id AND link.partner_id = %(partner)s::bigint
          AND pp.program_id = m.program_id))
"""
SCORED = (
    "((r.kind = 'cli' AND r.cli_total IS NOT NULL) OR (r.kind <> 'cli' AND r.score IS NOT NULL))"
)


def sql(query: str, **params) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def answers(scope: dict, start: datetime, end: datetime) -> dict[str, int]:
    """Each member's latest scored answer per kind in [start, end), counted."""
    later = SCORED.replace("r.", "later.")
    rows = sql(
        f"""
        SELECT r.kind, r.score, r.cli_total FROM surveys_response r
        JOIN programs_membership m ON m.id = r.membership_id
        WHERE {IN_SCOPE} AND r.status = 'answered' AND {SCORED}
          AND r.submitted_at >= %(start)s AND r.submitted_at < %(end)s
          AND NOT EXISTS (
            SELECT 1 FROM surveys_response later
            WHERE later.membership_id = r.membership_id AND later.kind = r.kind
              AND later.status = 'answered' AND {later}
              AND later.submitted_at >= %(start)s AND later.submitted_at < %(end)s
              AND (later.submitted_at, later.id) > (r.submitted_at, r.id))
        """,  # noqa: S608 - our SQL, values as parameters
        start=start,
        end=end,
        **scope,
    )

    def count(kind, test=lambda score: True):
        return sum(1 for k, score, _cli in rows if k == kind and test(score))

    return {
        "nps_promoters": count("nps", lambda s: s >= 9),
        "nps_passives": count("nps", lambda s: 7 <= s <= 8),
        "nps_detractors": count("nps", lambda s: s <= 6),
        "csat_n": count("csat"),
        "csat_satisfied": count("csat", lambda s: s >= 4),
        "ces_n": count("ces"),
        "ces_sum": sum(score for k, score, _cli in rows if k == "ces"),
        "cli_n": count("cli"),
        "cli_sum": sum(cli for k, _score, cli in rows if k == "cli"),
    }


def members(scope: dict) -> dict[int, tuple[int, int, int]]:
    """Per program: members, available points, pending points."""
    rows = sql(
        f"""SELECT m.program_id, count(*), sum(m.balance + m.held), sum(m.pending)
            FROM programs_membership m WHERE {IN_SCOPE} GROUP BY 1""",  # noqa: S608 - our SQL, values as parameters
        **scope,
    )
    return {program: (n, int(available), int(pending)) for program, n, available, pending in rows}


def history(program_id: int) -> tuple[int, int]:
    """The program's points ever issued and expired (all members)."""
    ((issued, expired),) = sql(
        """SELECT
             coalesce(sum(e.points + e.pending_points) FILTER (WHERE e.kind = 'earn'), 0)
               + coalesce(sum(e.points) FILTER (WHERE e.kind = 'adjust' AND e.points > 0), 0),
             -coalesce(sum(e.points) FILTER (WHERE e.kind = 'expire'), 0)
           FROM programs_ledgerentry e JOIN programs_membership m ON m.id = e.membership_id
           WHERE m.program_id = %(program)s""",
        program=program_id,
    )
    return int(issued), int(expired)


def buyers(scope: dict, start: datetime, end: datetime) -> dict[int, dict]:
    """Per program, the window's buyer figures from one row per member."""
    rows = sql(
        f"""
        SELECT m.program_id,
          (SELECT count(*) FROM programs_purchase p WHERE p.membership_id = m.id
             AND p.status <> 'rejected' AND p.occurred_at >= %(start)s AND p.occurred_at < %(end)s),
          (SELECT coalesce(sum(p.amount - p.refunded_amount), 0) FROM programs_purchase p
             WHERE p.membership_id = m.id AND p.status <> 'rejected'
               AND p.occurred_at >= %(start)s AND p.occurred_at < %(end)s),
          (SELECT max(p.occurred_at) FROM programs_purchase p WHERE p.membership_id = m.id
             AND p.status <> 'rejected' AND p.occurred_at >= %(start)s AND p.occurred_at < %(end)s),
          (SELECT min(p.occurred_at) FROM programs_purchase p WHERE p.membership_id = m.id
             AND p.status <> 'rejected'),
          (SELECT count(DISTINCT coalesce(nullif(l.sku, ''), 'category:' || nullif(l.category, '')))
             FROM programs_purchaseline l JOIN programs_purchase p ON p.id = l.purchase_id
             WHERE p.membership_id = m.id AND p.status <> 'rejected'
               AND p.occurred_at >= %(start)s AND p.occurred_at < %(end)s
               AND l.refunded_quantity < l.quantity)
        FROM programs_membership m WHERE {IN_SCOPE}
        """,  # noqa: S608 - our SQL, values as parameters
        start=start,
        end=end,
        **scope,
    )
    out: dict[int, dict] = {}
    for program, n, revenue, last_at, first_at, products in rows:
        figures = out.setdefault(
            program,
            {"buyers": 0, "repeat": 0, "purchases": 0, "revenue": Decimal(0), "days": Decimal(0)}
            | {"single": 0, "multi": 0},
        )
        if n == 0:
            continue
        lifetime = last_at - first_at
        figures["buyers"] += 1
        figures["repeat"] += n > 1
        figures["purchases"] += n
        figures["revenue"] += revenue
        figures["days"] += Decimal(lifetime.days) + Decimal(
            lifetime.seconds * 1_000_000 + lifetime.microseconds
        ) / Decimal(86_400_000_000)
        figures["single"] += products == 1
        figures["multi"] += products > 1
    return out


def bought(scope: dict, start: datetime, end: datetime) -> dict[int, set[int]]:
    """Per program, the members with a purchase (not rejected) in [start, end)."""
    rows = sql(
        f"""SELECT DISTINCT m.program_id, m.id FROM programs_membership m
            JOIN programs_purchase p ON p.membership_id = m.id
            WHERE {IN_SCOPE} AND p.status <> 'rejected'
              AND p.occurred_at >= %(start)s AND p.occurred_at < %(end)s""",  # noqa: S608 - our SQL, values as parameters
        start=start,
        end=end,
        **scope,
    )
    out: dict[int, set[int]] = {}
    for program, membership in rows:
        out.setdefault(program, set()).add(membership)
    return out


def first_and_next(scope: dict) -> list[tuple[datetime, datetime | None]]:
    return sql(
        f"""
        SELECT f.first_at, (SELECT min(p.occurred_at) FROM programs_purchase p
                            WHERE p.membership_id = f.id AND p.status <> 'rejected'
                              AND p.occurred_at > f.first_at)
        FROM (SELECT m.id, (SELECT min(p.occurred_at) FROM programs_purchase p
                            WHERE p.membership_id = m.id AND p.status <> 'rejected') AS first_at
              FROM programs_membership m WHERE {IN_SCOPE}) f
        WHERE f.first_at IS NOT NULL
        """,  # noqa: S608 - our SQL, values as parameters
        **scope,
    )


def points(scope: dict, start: datetime, end: datetime) -> tuple[int, int, int]:
    ((issued, redeemed, expired),) = sql(
        f"""
        SELECT
          coalesce(sum(e.points + e.pending_points) FILTER (WHERE e.kind = 'earn'), 0)
            + coalesce(sum(e.points) FILTER (WHERE e.kind = 'adjust' AND e.points > 0), 0),
          -coalesce(sum(e.points) FILTER (WHERE e.kind IN ('redeem', 'redeem_cancel')), 0)
            - coalesce(sum(e.held_points) FILTER (WHERE e.kind = 'capture'), 0)
            - coalesce(sum(e.points) FILTER (WHERE e.kind = 'capture_refund'), 0),
          -coalesce(sum(e.points) FILTER (WHERE e.kind = 'expire'), 0)
        FROM programs_ledgerentry e
        JOIN programs_membership m ON m.id = e.membership_id
        WHERE {IN_SCOPE} AND e.effective_at >= %(start)s AND e.effective_at < %(end)s
        """,  # noqa: S608 - our SQL, values as parameters
        start=start,
        end=end,
        **scope,
    )
    return int(issued), int(redeemed), int(expired)


def money(amount, places="0.01") -> Decimal:
    if isinstance(amount, Fraction):
        amount = Decimal(amount.numerator) / Decimal(amount.denominator)
    return amount.quantize(Decimal(places), ROUND_HALF_UP)


def export(client, query: dict, name: str) -> list[dict]:
    reply = client.get(DASHBOARD, {**query, "export": name})
    text = b"".join(reply.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def pct(value) -> str:
    return "" if value is None else f"{value:.4f}"


@pytest.fixture
def world(db):
    coalition = build()
    snapshots_build(months=None)
    # the time the snapshots were computed: the end of their current spans
    coalition.built = MetricSnapshot.objects.aggregate(at=Max("computed_at"))["at"]
    return coalition


def check_headline(where, scope, start, built, shown) -> dict:
    found = answers(scope, start, built)
    n = found["nps_promoters"] + found["nps_passives"] + found["nps_detractors"]
    if n:
        assert shown["nps"].n == n, where
        score = 100 * (found["nps_promoters"] - found["nps_detractors"]) / n
        assert shown["nps"].score == pytest.approx(score), where
        assert shown["nps"].too_few_answers == (n < 30), where
    else:
        assert shown["nps"] is None, where
    assert shown["csat_n"] == found["csat_n"], where
    if found["csat_n"]:
        assert shown["csat"] == pytest.approx(found["csat_satisfied"] / found["csat_n"]), where
    assert (shown["ces"].n if shown["ces"] else 0) == found["ces_n"], where
    if found["ces_n"]:
        assert shown["ces"].mean == pytest.approx(found["ces_sum"] / found["ces_n"]), where
    assert shown["cli_n"] == found["cli_n"], where
    if found["cli_n"]:
        assert shown["cli"] == pytest.approx(found["cli_sum"] / (3 * found["cli_n"])), where
    return found


def check_api(where, api, program, partner, start, found, shown):
    """The partner API counts the same answers the same way."""
    params = {"since": start.isoformat()} | ({"program": program.slug} if program else {})
    cache.clear()  # rate limits
    reply = api.get("/api/v1/surveys/nps", params)
    if program is not None and not partner.programs.filter(pk=program.pk).exists():
        assert reply.status_code == 400, where  # not one of its programs: nothing to count
        return
    body = reply.json()
    counts = (found["nps_promoters"], found["nps_passives"], found["nps_detractors"])
    assert (body["promoters"], body["passives"], body["detractors"]) == counts, where
    n = sum(counts)
    assert body["too_few_answers"] == (n < 30), where
    if n >= 30:
        assert body["margin_of_error"] == pytest.approx(shown["nps"].margin_of_error), where
    else:
        assert body["margin_of_error"] is None, where


def check_periods(where, scope, periods, first, step, built):
    """Per month or quarter: answers (one per member and period) and points."""
    for period in periods:
        assert period.start >= first, where
        start, end = midnight(period.start), midnight(period.start + relativedelta(months=step))
        got = answers(scope, start, min(end, built))
        names = ["nps_promoters", "nps_passives", "nps_detractors", "csat_n", "csat_satisfied"]
        names += ["ces_n", "ces_sum", "cli_n", "cli_sum"]
        assert {name: period.counts[name] for name in names} == {
            name: got[name] for name in names
        }, f"{where}, {period.label}"
        flows = (
            period.counts["points_issued"],
            period.counts["points_redeemed"],
            period.counts["points_expired"],
        )
        assert flows == points(scope, start, min(end, built)), f"{where}, {period.label}"


def check_programs(where, scope, world, start, context, rows, breakage):
    """Members, liability, repurchase, upsell and historical CLV per program, and the
    liability per currency: exact sums, rounded once."""
    programs = {world.coffee.pk: world.coffee, world.city.pk: world.city}
    stock = members(scope)
    window = buyers(scope, start, world.built)
    shown = {f.program.pk: f for f in context["programs"]}
    assert set(shown) == {pid for pid, (m, _a, _p) in stock.items() if m}, where
    exact = {}
    for pid, figures in shown.items():
        program = programs[pid]
        count, available, pending = stock[pid]
        assert (figures.members, figures.points_available, figures.points_pending) == (
            count,
            available,
            pending,
        ), where
        value, share = program.point_value, breakage[pid]
        outstanding = Fraction(available + pending) * Fraction(value)
        exact[pid] = (
            available * value,
            pending * value,
            None if share is None else outstanding * share,
        )
        row = rows[program.name]
        assert row["liability_available"] == str(money(available * value)), where
        assert row["liability_pending"] == str(money(pending * value)), where
        assert row["expected_breakage_estimate"] == (
            "" if share is None else str(money(outstanding * share))
        ), where
        b = window.get(pid, {"buyers": 0})
        assert int(row["buyers"]) == b["buyers"], where
        if not b["buyers"]:
            continue
        assert int(row["repeat_buyers"]) == b["repeat"], where
        assert row["repurchase_rate"] == pct(b["repeat"] / b["buyers"]), where
        assert (int(row["single_product_buyers"]), int(row["multi_product_buyers"])) == (
            b["single"],
            b["multi"],
        ), where
        assert row["upsell_ratio"] == pct(b["multi"] / b["single"] if b["single"] else None)
        # CLV = revenue / purchases x purchases / buyers / window years x lifetime years
        # (lifetimes summed in days to six places, as the snapshot keeps them)
        window_days = Decimal(str((world.built - start).total_seconds())) / 86400
        days = b["days"].quantize(Decimal("0.000001"), ROUND_HALF_UP)
        per_year = Decimal(b["purchases"]) / b["buyers"] / (window_days / Decimal("365.25"))
        lifetime_years = days / b["buyers"] / Decimal("365.25")
        clv = b["revenue"] / b["purchases"] * per_year * lifetime_years
        assert row["historical_clv"] == str(money(clv)), where
    for liability in context["liabilities"]:
        mine = [pid for pid in shown if programs[pid].currency == liability.currency]
        assert liability.available == money(sum(exact[pid][0] for pid in mine)), where
        assert liability.pending == money(sum(exact[pid][1] for pid in mine)), where
        breakages = [exact[pid][2] for pid in mine if exact[pid][2] is not None]
        assert liability.expected_breakage == (
            money(sum(breakages, Fraction(0))) if breakages else None
        ), where
    currencies = {c.currency for c in context["liabilities"]}
    assert currencies == {programs[pid].currency for pid in shown}, where


def check_retention(where, scope, world, periods, step, current, shown):
    """Per complete period and program: buyers of the period before, buyers, both."""
    names = {world.coffee.pk: world.coffee.name, world.city.pk: world.city.name}
    expected = set()
    for period in periods:
        end = period.start + relativedelta(months=step)
        if end > current:
            continue
        before = bought(
            scope, midnight(period.start - relativedelta(months=step)), midnight(period.start)
        )
        during = bought(scope, midnight(period.start), midnight(end))
        for pid in set(before) | set(during):
            b0, b1 = before.get(pid, set()), during.get(pid, set())
            rate = len(b0 & b1) / len(b0) if b0 else None
            expected.add((period.label, names[pid], len(b0), len(b1), len(b0 & b1), pct(rate)))
    got = {
        (
            r["period"],
            r["program"],
            int(r["buyers_before"]),
            int(r["buyers"]),
            int(r["retained"]),
            r["retention"],
        )
        for r in shown
    }
    assert got == expected, where


def check_cohorts(where, scope, first, built, shown):
    """Cohorts of the window's months; a window of days not yet passed is empty."""
    cohorts: dict[date, list] = {}
    for first_at, next_at in first_and_next(scope):
        local = timezone.localtime(first_at)
        month = date(local.year, local.month, 1)
        if month < first:
            continue
        row = cohorts.setdefault(month, [0, 0, 0, 0, 0])
        row[0] += 1
        for k, days in enumerate((30, 90, 180, 365), start=1):
            row[k] += next_at is not None and next_at <= first_at + timedelta(days=days)
    assert [r["cohort"] for r in shown] == [f"{m:%Y-%m}" for m in sorted(cohorts)], where
    for r in shown:
        month = date.fromisoformat(r["cohort"] + "-01")
        assert int(r["customers"]) == cohorts[month][0], where
        for k, days in enumerate((30, 90, 180, 365), start=1):
            passed = midnight(month + relativedelta(months=1)) + timedelta(days=days) <= built
            expected = str(cohorts[month][k]) if passed else ""
            assert r[f"within_{days}_days"] == expected, f"{where} {month} {days}"


def test_every_dashboard_figure_equals_plain_sql_under_every_filter(admin_client, world):
    today = timezone.localdate()
    current = date(today.year, today.month, 1)
    apis = {p.pk: client_for(p) for p in (world.bookshop, world.bakery)}
    breakage = {}
    for program in (world.coffee, world.city):
        issued, expired = history(program.pk)
        breakage[program.pk] = Fraction(expired, issued) if issued else None
    assert breakage[world.coffee.pk] > 0  # points have expired in the coffee program
    combos = product(
        [None, world.coffee, world.city],
        [None, world.bookshop, world.bakery],
        WINDOW_MONTHS,
        ["month", "quarter"],
    )
    for program, partner, months, granularity in combos:
        where = f"program={program}, partner={partner}, months={months}, per {granularity}"
        scope = {"program": program and program.pk, "partner": partner and partner.pk}
        query = {"months": months, "granularity": granularity}
        query |= {"program": program.pk} if program else {}
        query |= {"partner": partner.pk} if partner else {}
        reply = admin_client.get(DASHBOARD, query)
        assert reply.status_code == 200, where
        context = reply.context
        first = current - relativedelta(months=months - 1)
        start = midnight(first)
        step = 3 if granularity == "quarter" else 1
        chart_first = date(first.year, (first.month - 1) // 3 * 3 + 1, 1) if step == 3 else first
        check_periods(where, scope, context["periods"], chart_first, step, world.built)
        retention = export(admin_client, query, "retention")
        check_retention(where, scope, world, context["periods"], step, current, retention)
        if granularity == "quarter":
            continue  # the rest does not depend on it
        found = check_headline(where, scope, start, world.built, context["summary"])
        if partner is not None:
            check_api(where, apis[partner.pk], program, partner, start, found, context["summary"])
        rows = {row["program"]: row for row in export(admin_client, query, "programs")}
        check_programs(where, scope, world, start, context, rows, breakage)
        check_cohorts(where, scope, first, world.built, export(admin_client, query, "cohorts"))
