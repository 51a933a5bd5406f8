"""The bench report's what-if rows: the time scaled to a million purchases against the
issue's minute, judged only where the history is large enough to scale."""

from bench import config, report


def rows(results, scale="default"):
    table = report.rows(results, config.SCALES[scale])
    return {row["figure"]: row for row in table if row["figure"].startswith("What-if")}


def test_the_what_if_rows_scale_the_time_to_a_million_purchases():
    results = {
        "what_if.tiers": {"seconds": 41.5, "cpu_seconds": 30.1, "purchases": 1_100_000},
        "what_if.campaign": {"seconds": 70.0, "cpu_seconds": 60.0, "purchases": 1_000_000},
    }
    found = rows(results)
    tiers = found["What-if: tier thresholds, whole history"]
    assert tiers["value"] == "41.5 s (CPU 30.1 s) for 1,100,000 purchases"
    assert tiers["note"] == "37.7 s per million"
    assert tiers["met"] is True
    assert found["What-if: draft campaign, whole history"]["met"] is False


def test_a_missing_cut_off_or_small_what_if_is_reported_as_such():
    found = rows({"what_if.tiers": {"kind": "tiers", "cut_off_after_s": 240, "seconds": None}})
    assert found["What-if: tier thresholds, whole history"]["value"] == "cut off after 240 s"
    assert found["What-if: tier thresholds, whole history"]["met"] is False
    assert found["What-if: draft campaign, whole history"]["value"] == report.NOT_AVAILABLE
    small = rows({"what_if.tiers": {"seconds": 0.4, "purchases": 3_000}}, "smoke")
    assert small["What-if: tier thresholds, whole history"]["met"] is None  # too few to judge
