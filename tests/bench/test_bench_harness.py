"""The bench harness's own logic (no timing is ever asserted): the safety check on the
database it re-creates, percentiles, the report for scenarios that do not exist yet, and
the defaults the seeder gives columns it does not know."""

import pytest

from bench import config, report
from bench.app import find_page
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
