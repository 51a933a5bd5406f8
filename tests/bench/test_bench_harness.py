"""The bench harness's own logic (no timing is ever asserted): the safety check on the
database it re-creates, percentiles, the report for scenarios that do not exist yet, and
the defaults the seeder gives columns it does not know."""

import pytest

from bench import config, report
from bench.app import find_page, longest_pause
from bench.seed import _extra_columns
from bench.stats import percentile, summary
from programs.models import Purchase


def test_refuses_a_database_whose_name_does_not_say_bench(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/loyalty")
    with pytest.raises(SystemExit, match="must contain 'bench'"):
        config.database_url()


def test_uses_the_dedicated_bench_database_by_default(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert config.database_url().endswith("/loyalty_bench")
    assert config.redis_url().endswith("/12")


def test_unknown_scale_is_refused(monkeypatch):
    monkeypatch.setenv("BENCH_SCALE", "huge")
    with pytest.raises(SystemExit, match="smoke, default, large"):
        config.scale_from_env()


def test_another_backlog_names_the_report_and_stretches_the_cap(monkeypatch):
    monkeypatch.setenv("BENCH_SCALE", "default")
    monkeypatch.setenv("BENCH_BACKLOG", "1000000")
    scale = config.scale_from_env()
    assert (scale.name, scale.backlog, scale.customers) == ("default-backlog1000000", 10**6, 10**5)
    assert scale.drain_cap == 2000
    monkeypatch.setenv("BENCH_BACKLOG", "a million")
    with pytest.raises(SystemExit, match="a number of purchases"):
        config.scale_from_env()


def test_percentiles_and_throughput():
    latencies = [i / 1000 for i in range(1, 101)]  # 1 .. 100 ms
    result = summary(latencies, elapsed=2.0)
    assert (result["p50_ms"], result["p95_ms"], result["p99_ms"]) == (50.0, 95.0, 99.0)
    assert result["per_second"] == 50.0
    assert percentile([], 50) is None
    assert summary([0.5] * 10, elapsed=1.0, units=10_000)["per_second"] == 10_000


def test_report_marks_missing_scenarios_not_available_and_targets_missed():
    results = {
        "raw.single_tx": {"per_second": 1000.0},
        "raw.copy_batch": {"per_second": 100_000.0},
        "api.ingest_single": {"per_second": 900.0, "p99_ms": 150.0},
        "api.ingest_batch": {"per_second": 25_000.0, "p99_ms": 900.0},
        "portal.dashboard": report.NOT_AVAILABLE,
        "nightly.engagement": report.NOT_AVAILABLE,
    }
    rows = {row["figure"]: row for row in report.rows(results, config.SCALES["default"])}
    single = rows["Single-purchase ingest (32 clients)"]
    assert single["ratio"] == 0.9
    assert single["met"] is False  # p99 above 100 ms
    assert rows["Batch ingest (1,000 per request)"]["met"] is True
    assert rows["Portal dashboard, long history (32 clients)"]["value"] == report.NOT_AVAILABLE
    assert rows["Engagement recompute"]["met"] is None


def test_longest_pause_is_the_longest_stand_still_while_purchases_remain():
    # (seconds since the start, purchases still received)
    stalled = [(0, 100), (0.5, 100), (1.0, 90), (1.5, 90), (7.5, 90), (8.0, 40), (8.5, 0)]
    pause = longest_pause(stalled)
    assert (pause["longest_pause_s"], pause["longest_pause_at_s"]) == (7.0, 1.0)
    assert pause["pauses_over_limit"] == 1
    steady = [(0, 30), (0.5, 20), (1.0, 10), (1.5, 0), (9.0, 0)]  # empty: no pause after
    assert longest_pause(steady)["longest_pause_s"] == 0.5
    assert longest_pause(steady)["pauses_over_limit"] == 0
    cut_off = [(0, 30), (0.5, 20), (6.0, 20)]  # still stuck when the cap was reached
    assert longest_pause(cut_off)["longest_pause_s"] == 5.5


def test_report_judges_the_drain_pause_and_shows_one_against_two_awards_processes():
    cpu = {
        "seconds": 10.0,
        "cores": 2,
        "machine_busy_cores": 1.9,
        "workers": {
            "awards": {"pool_cpu_s": [4.1, 3.9], "parent_cpu_s": 0.1, "exited_pool_cpu_s": 0},
            "others": {"pool_cpu_s": [1.2], "parent_cpu_s": 0.0, "exited_pool_cpu_s": 0},
        },
    }
    results = {
        "raw.copy_batch": {"per_second": 100_000.0},
        "award.drain": {
            "per_second": 6000.0,
            "longest_pause_s": 6.5,
            "longest_pause_at_s": 3.0,
            "pauses_over_limit": 1,
            "sample_interval_s": 0.5,
        },
        "award.drain_cpu": cpu,
        "award.scaling": {
            "backlog": 1000,
            "cores": 2,
            "1": {"per_second": 2000.0, "longest_pause_s": 0.5, "cpu": cpu},
            "2": {"per_second": 3000.0, "longest_pause_s": 0.5, "cpu": cpu},
        },
    }
    rows = {row["figure"]: row for row in report.rows(results, config.SCALES["default"])}
    drain = rows["Award drain: rate and longest pause while a backlog remains (issue 21)"]
    assert drain["ratio"] == 0.06
    assert drain["met"] is False  # fast enough, but stood still for 6.5 s
    assert "longest pause 6.5 s" in drain["value"]
    two = rows["Awards queue, 2 worker processes (-c 2)"]
    assert "1.5 x the 1-process rate" in two["value"]
    assert "awards pool CPU 4.1 s, 3.9 s" in two["value"]
    assert "machine 1.9 of 2 cores busy" in two["value"]
    assert "2 cores" in two["note"]
    results["award.drain"]["longest_pause_s"] = 4.0
    rows = {row["figure"]: row for row in report.rows(results, config.SCALES["default"])}
    assert rows["Award drain: rate and longest pause while a backlog remains (issue 21)"]["met"]


def test_report_judges_interactive_requests_against_the_healthz_floor():
    """Issue 21: >= 0.5 x the floor's throughput and p99 <= 2 x the floor's p99."""
    results = {
        "http.floor": {"per_second": 200.0, "p99_ms": 100.0},
        "api.ingest_single": {"per_second": 120.0, "p99_ms": 150.0},  # both met
        "api.balance_during_drain": {"per_second": 120.0, "p99_ms": 250.0},  # p99 too high
        "replica": {
            "cores": 2,
            "primary.balance": {"per_second": 100.0, "p99_ms": 90.0},
            "replica.balance": {
                "per_second": 150.0,
                "p99_ms": 60.0,
                "replica_tx_per_request": 1.0,
                "primary_tx_per_request": 0.0,
            },
        },
        "large_tables": {
            "copy": {"per_second": 100_000.0},
            "today": {"per_second": 7_000.0, "copy_ratio": 0.07},
            "partitioned": {"per_second": 25_000.0, "copy_ratio": 0.25, "entries": 10},
        },
    }
    rows = {row["figure"]: row for row in report.rows(results, config.SCALES["default"])}
    single = rows["Single-purchase ingest against the /healthz floor (issue 21)"]
    assert (single["ratio"], single["met"]) == (0.6, True)
    reads = rows["Balance reads during the drain against the /healthz floor (issue 21)"]
    assert (reads["ratio"], reads["met"]) == (0.6, False)
    assert "2.5 x the floor's p99" in reads["value"]
    replica = rows["Balance reads served by a streaming replica (issue 21)"]
    assert replica["ratio"] == 1.5
    assert "replica 1.0, primary 0.0" in replica["value"]
    portal = rows["Portal dashboard served by a streaming replica (issue 21)"]
    assert portal["value"] == report.NOT_AVAILABLE
    plan = rows["Expiry writes, large-table plan: lots and ledger by month (issue 21)"]
    assert (plan["ratio"], plan["met"]) == (0.25, True)
    del results["http.floor"]
    rows = {row["figure"]: row for row in report.rows(results, config.SCALES["default"])}
    assert rows["Single-purchase ingest against the /healthz floor (issue 21)"]["met"] is None


def test_seeder_fills_columns_it_does_not_name_with_model_defaults():
    named = ["id", "program_id", "membership_id", "partner_id", "order_id", "amount",
             "occurred_at"]  # fmt: skip
    columns, values = _extra_columns(Purchase, named)
    defaults = dict(zip(columns, values, strict=True))
    assert defaults["status"] == "received"
    assert defaults["status_reason"] == ""
    assert defaults["breakdown"] == "{}"
    assert "processed_at" not in defaults  # nullable: left NULL


def test_seeder_refuses_to_guess_a_required_column():
    with pytest.raises(RuntimeError, match=r"no value for Purchase\.program"):
        _extra_columns(Purchase, ["id", "amount"])


def test_finds_pages_by_url_name_and_reports_missing_ones():
    assert find_page(lambda ns, name, module: name == "healthz") == "/healthz"
    assert find_page(lambda ns, name, module: name == "no-such-page") is None
