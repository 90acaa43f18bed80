"""Smoke runs of `lwt bench` (seconds, not minutes) beside the README's own runs, which
test_readme.py checks: what the README does not run. No test asserts a speed."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from benchmarks.load import Target, run_load
from benchmarks.models import build
from benchmarks.sweep import Slo
from tests.integration.bench_reports import consistent


def test_compare_with_an_slo_sweeps_each_scenario(lwt, tmp_path):
    """Every scenario of the README's run is checked by test_readme.py (bench_reports);
    here the `--slo` rate sweep, on two of them."""
    result = subprocess.run([*lwt, "--log-level", "WARNING", "bench", "compare", "enwiki-reverted", "--duration", "1",
                             "--concurrency", "4", "--scenarios", "baseline,triton-batched", "--slo", "p99<=500ms",
                             "--results", str(tmp_path / "results"), "--json", str(tmp_path / "scenarios.json")],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    slim = json.loads((tmp_path / "scenarios.json").read_text())
    assert [s["name"] for s in slim] == ["baseline", "triton-batched"]
    assert all(s["max_rps_within_slo"] >= 0 for s in slim)
    [full_path] = (tmp_path / "results").rglob("enwiki-reverted.json")
    for scenario in json.loads(full_path.read_text())["scenarios"]:
        consistent(scenario)
        sweep = scenario["slo"]["sweep"]
        assert sweep and all(p["rate"] > 0 for p in sweep)
    assert "SLO p99<=500ms: met by" in result.stdout


def test_compare_runs_the_bert_scenarios(lwt, tmp_path):
    result = subprocess.run([*lwt, "--log-level", "WARNING", "bench", "compare", "bert-tiny", "--duration", "1",
                             "--concurrency", "2", "--results", str(tmp_path), "--json", str(tmp_path / "s.json")],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [s["name"] for s in json.loads((tmp_path / "s.json").read_text())] == ["baseline", "triton-fp32", "triton-int8"]
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    for scenario in json.loads((run_dir / "bert-tiny.json").read_text())["scenarios"]:
        consistent(scenario)


def test_open_loop_counts_from_the_schedule_and_errors_are_counted():
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
