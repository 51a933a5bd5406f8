"""The dashboard's CSV exports: the numbers behind each chart and table, as shown."""

from surveys.exports import csv_response
from surveys.program_figures import currency_liabilities
from surveys.selectors import WINDOWS, retention_of

EXPORTS = (
    "nps",
    "split",
    "points",
    "retention",
    "cohorts",
    "tiers",
    "engagement",
    "programs",
    "liability",
)


def _num(value, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _nps(periods):
    header = ["period", "promoters", "passives", "detractors", "answers", "nps", "margin_95"]
    rows = []
    for p in periods:
        report = p.nps
        rows.append(
            [
                p.label,
                p.counts["nps_promoters"],
                p.counts["nps_passives"],
                p.counts["nps_detractors"],
                report.n if report else 0,
                _num(report.score if report else None),
                # empty: no answers, or too few for a margin
                _num(report.margin_of_error if report else None),
            ]
        )
    return header, rows


def _split(periods):
    header = ["period", "promoters", "passives", "detractors"]
    rows = [
        [p.label, p.counts["nps_promoters"], p.counts["nps_passives"], p.counts["nps_detractors"]]
        for p in periods
    ]
    return header, rows


def _points(periods):
    header = ["period", "issued", "redeemed", "expired"]
    rows = [
        [
            p.label,
            p.counts["points_issued"],
            p.counts["points_redeemed"],
            p.counts["points_expired"],
        ]
        for p in periods
    ]
    return header, rows


def _retention(labels, counts, names):
    header = ["period", "program", "buyers_before", "buyers", "retained", "retention", "churn"]
    rows = []
    for program_id, row in counts.items():
        for label, found in zip(labels, row, strict=True):
            if found is None:
                continue
            rate = retention_of(found)
            rows.append(
                [
                    label,
                    names.get(program_id, program_id),
                    found["buyers_before"],
                    found["buyers"],
                    found["buyers_retained"],
                    _num(rate, 4),
                    _num(None if rate is None else 1 - rate, 4),
                ]
            )
    return header, rows


def _cohorts(cohorts):
    # a window that has not passed for the whole cohort yet: empty, not a count
    header = ["cohort", "customers", *[f"within_{d}_days" for d in WINDOWS]]
    rows = [
        [
            f"{c['cohort']:%Y-%m}",
            c["customers"],
            *["" if n is None else n for _d, n, _r in c["rates"]],
        ]
        for c in cohorts
    ]
    return header, rows


def _tiers(stocks):
    names = ["members", "members_active", "members_at_risk", "members_dormant"]
    header = ["program", "tier", "members", "active", "at_risk", "dormant", "points_available"]
    header.append("points_pending")
    rows = [
        [
            r["program__name"],
            r["tier__name"] or "",
            *(r[name] for name in names),
            r["points_outstanding"],
            r["points_pending"],
        ]
        for r in stocks["tiers"]
    ]
    return header, rows


def _programs(programs):
    header = [
        "program",
        "currency",
        "members",
        "buyers",
        "repeat_buyers",
        "repurchase_rate",
        "single_product_buyers",
        "multi_product_buyers",
        "upsell_ratio",
        "retention_period",
        "retention",
        "churn",
        "avg_purchase_value",
        "purchases_per_buyer_and_year",
        "lifetime_years",
        "historical_clv",
        "points_available",
        "points_pending",
        "liability_available",
        "liability_pending",
        "breakage_share",
        "expected_breakage_estimate",
    ]
    rows = [
        [
            f.program.name,
            f.currency,
            f.members,
            f.window.get("buyers", 0),
            f.window.get("repeat_buyers", 0),
            _num(f.repurchase_rate, 4),
            f.window.get("single_product_buyers", 0),
            f.window.get("multi_product_buyers", 0),
            _num(f.upsell_ratio, 4),
            f.retention_period or "",
            _num(f.retention, 4),
            _num(f.churn, 4),
            _num(f.shown_avg_purchase_value),
            _num(f.purchases_per_year, 4),
            _num(f.lifetime_years, 4),
            _num(f.shown_clv),
            f.points_available,
            f.points_pending,
            f.shown_available,
            f.shown_pending,
            _num(None if f.breakage is None else float(f.breakage), 4),
            _num(f.shown_breakage),
        ]
        for f in programs
    ]
    return header, rows


def _liability(programs):
    header = ["currency", "points_available", "points_pending", "available", "pending"]
    header.append("expected_breakage_estimate")
    rows = [
        [
            c.currency,
            c.points_available,
            c.points_pending,
            c.available,
            c.pending,
            _num(c.expected_breakage),
        ]
        for c in currency_liabilities(programs)
    ]
    return header, rows


def export_response(name: str, *, periods, stocks, cohorts, programs, retention):
    if name in ("nps", "split", "points"):
        header, rows = {"nps": _nps, "split": _split, "points": _points}[name](periods)
    elif name == "retention":
        header, rows = _retention(*retention)
    elif name == "cohorts":
        header, rows = _cohorts(cohorts)
    elif name == "engagement":
        header, rows = ["engagement_score", "members"], [list(r) for r in stocks["engagement"]]
    elif name == "programs":
        header, rows = _programs(programs)
    elif name == "liability":
        header, rows = _liability(programs)
    else:
        header, rows = _tiers(stocks)
    return csv_response(f"dashboard-{name}.csv", header, rows)
