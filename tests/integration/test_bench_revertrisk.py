"""Smoke runs of the revert-risk benchmarks (seconds): `lwt bench compare revertrisk-la`
(Lift Wing's XGBoost-per-request server vs Triton) and `lwt bench services --model
revertrisk-language-agnostic`. No test asserts a speed."""

from __future__ import annotations

import json
import subprocess


def test_compare_revertrisk_la_runs_the_xgboost_baseline_and_triton(lwt, tmp_path):
    result = subprocess.run([*lwt, "--log-level", "WARNING", "bench", "compare", "revertrisk-la", "--duration", "1",
                             "--concurrency", "2", "--scenarios", "baseline,triton-batched,identity",
                             "--results", str(tmp_path / "results"), "--json", str(tmp_path / "s.json")],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [s["name"] for s in json.loads((tmp_path / "s.json").read_text())] == ["baseline", "triton-batched",
                                                                                 "identity"]
    [run_dir] = list((tmp_path / "results").iterdir())
    for scenario in json.loads((run_dir / "revertrisk-la.json").read_text())["scenarios"]:
        assert scenario["answered"] > 0 and scenario["errors"] == 0, scenario.get("error_samples")
        assert scenario["sent"] == scenario["answered"] + scenario["errors"]
    assert "x the baseline's rps" in result.stdout


def test_services_bench_measures_the_revert_risk_service(lwt, tmp_path):
    result = subprocess.run([*lwt, "--log-level", "WARNING", "bench", "services", "--model",
                             "revertrisk-language-agnostic", "--duration", "1", "--concurrency", "2",
                             "--json", str(tmp_path / "r.json")], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    measured = json.loads((tmp_path / "r.json").read_text())
    for form in ("single", "instances_x20"):
        own = measured[form]
        assert own["requests"] > 0 and 1 <= own["max_mediawiki_calls"] <= 3
        assert 0 < own["stage_medians"]["fetch_ms"] < own["client_p50_ms"]
    assert measured["single"]["requests"] >= 100 and measured["closed_loop"]["errors"] == 0
    assert "revertrisk-language-agnostic single: overhead" in result.stdout
