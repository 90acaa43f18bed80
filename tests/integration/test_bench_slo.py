"""`lwt bench slo`: straight to Triton, and usage errors. The sweep through the services is
the README's run (test_readme.py checks its report with bench_reports.slo)."""

from __future__ import annotations

import json
import subprocess


def test_slo_sweep_straight_to_triton(lwt, tmp_path):
    result = subprocess.run([*lwt, "--log-level", "WARNING", "bench", "slo", "enwiki-reverted", "--through", "triton",
                             "--slo", "p99<=500ms", "--start", "50", "--duration", "2", "--steps", "1",
                             "--json", str(tmp_path / "slo.json"), "--results", str(tmp_path / "r")],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    point = json.loads((tmp_path / "slo.json").read_text())["sweep"][0]
    assert point["errors"] == 0 and point["requests"] >= 80


def test_an_unknown_model_or_slo_is_a_usage_error(lwt):
    for args in (["no-such-model", "--slo", "p99<=1ms"], ["enwiki-reverted", "--slo", "fast please"]):
        result = subprocess.run([*lwt, "bench", "slo", *args], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and result.stderr.startswith("lwt: error:"), result.stderr
