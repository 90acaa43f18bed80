"""Smoke runs of `lwt bench` (seconds, not minutes): the tool works and its numbers are
consistent. No test asserts a speed."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from benchmarks.load import Target, run_load
from benchmarks.models import build
from benchmarks.sweep import Slo


def _consistent(scenario: dict) -> None:
    assert scenario["sent"] == scenario["answered"] + scenario["errors"]
    assert scenario["answered"] > 0 and scenario["errors"] == 0, scenario.get("error_samples")
    assert scenario["p50_ms"] <= scenario["p90_ms"] <= scenario["p99_ms"] <= scenario["max_ms"]
    assert scenario["rps"] > 0 and scenario["server_cpu_percent"] > 0 and scenario["server_max_rss_mb"] > 0


@pytest.fixture(scope="module")
def tree_run(lwt, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bench")
    result = subprocess.run([*lwt, "--log-level", "WARNING", "bench", "compare", "enwiki-reverted", "--duration", "2",
                             "--concurrency", "4", "--slo", "p99<=500ms", "--results", str(folder / "results"),
                             "--json", str(folder / "scenarios.json")],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder, result.stdout


def test_compare_runs_every_tree_scenario_and_reports_them(tree_run):
    folder, stdout = tree_run
    slim = json.loads((folder / "scenarios.json").read_text())
    assert [s["name"] for s in slim] == ["baseline", "triton", "triton-batched", "identity",
                                         "triton-batched-grpc", "identity-grpc"]
    for s in slim:
        assert set(s) >= {"name", "rps", "p50_ms", "p90_ms", "p99_ms", "errors", "max_rps_within_slo"}
    [run_dir] = list((folder / "results").iterdir())
    full = json.loads((run_dir / "enwiki-reverted.json").read_text())
    for scenario in full["scenarios"]:
        _consistent(scenario)
        sweep = scenario["slo"]["sweep"]
        assert sweep and all(p["rate"] > 0 for p in sweep)
    assert (run_dir / "enwiki-reverted.png").stat().st_size > 1000
    assert "| baseline |" in (run_dir / "enwiki-reverted.md").read_text() and "x the baseline's rps" in stdout


def test_compare_runs_the_bert_scenarios(lwt, tmp_path):
    result = subprocess.run([*lwt, "--log-level", "WARNING", "bench", "compare", "bert-tiny", "--duration", "2",
                             "--concurrency", "2", "--results", str(tmp_path), "--json", str(tmp_path / "s.json")],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [s["name"] for s in json.loads((tmp_path / "s.json").read_text())] == ["baseline", "triton-fp32", "triton-int8"]
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    for scenario in json.loads((run_dir / "bert-tiny.json").read_text())["scenarios"]:
        _consistent(scenario)


def test_open_loop_counts_from_the_schedule_and_errors_are_counted(tree_run):
    """Against a port nobody listens on: every request is an error, none answered."""
    from lwt.stack.process import free_port

    result = run_load(Target("http", "127.0.0.1", free_port(), path="/v2/models/x/infer", body=b"{}"),
                      concurrency=2, duration=1.0, rate=50)
    assert result.answered == 0 and result.errors == result.sent > 0
    assert result.error_samples


def test_tune_writes_the_best_config(lwt, tmp_path):
    from benchmarks.tune import tune

    bench = build("enwiki-reverted")
    summary = tune(bench, tmp_path / "work", duration=1.0, concurrency=4, slo=Slo.parse("p99<=500ms"),
                   output=tmp_path / "tuned.pbtxt", delays=(0, 500), preferred_sizes=((),), instances=(1,))
    assert len(summary["trials"]) == 2 and summary["met_slo"]
    best = max(summary["trials"], key=lambda t: t["rps"])
    assert summary["best"] == best
    text = (tmp_path / "tuned.pbtxt").read_text()
    assert f"max_queue_delay_microseconds: {best['max_queue_delay_microseconds']}" in text or \
        best["max_queue_delay_microseconds"] == 0
    assert 'name: "enwiki-reverted"' in text


def test_slo_parsing():
    assert Slo.parse("p99<=50ms") == Slo(99, 50.0)
    assert Slo.parse("p95 <= 2.5ms").met({"errors": 0, "p95_ms": 2.0})
    assert not Slo.parse("p99<=1ms").met({"errors": 1, "p99_ms": 0.5})
    with pytest.raises(ValueError):
        Slo.parse("p99 below 50")
    assert np.isfinite(Slo.parse("p50<=1ms").limit_ms)


def test_services_overhead_workers_and_a_slow_wiki_are_measured(lwt, tmp_path):
    result = subprocess.run([*lwt, "bench", "services", "--requests", "12", "--duration", "2", "--concurrency", "2",
                             "--mediawiki-latency", "50", "--json", str(tmp_path / "s.json")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((tmp_path / "s.json").read_text())
    own = data["overhead"]
    assert own["requests"] + own["not_scored"] == 11 and own["requests"] >= 8
    assert 0 < own["overhead_p50_ms"] <= own["client_p50_ms"]
    assert [row["workers"] for row in data["throughput"]] == [1, 2]
    for row in data["throughput"]:
        assert row["errors"] == 0 and row["rps"] > 0 and row["p50_ms"] <= row["p99_ms"]
    single, batched = data["slow_mediawiki"]
    assert single["errors"] == 0 and batched["errors"] == 0
    assert single["p50_ms"] >= 2 * 50  # two API calls, each 50 ms late
    assert "2 worker(s)" in result.stdout and "revisions/s" in result.stdout
