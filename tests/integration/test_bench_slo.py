"""`lwt bench slo`: an open-loop rate sweep through the whole path, run as users run it."""

from __future__ import annotations

import json
import subprocess


def test_slo_sweep_through_the_services_writes_its_report(lwt, tmp_path):
    result = subprocess.run([*lwt, "bench", "slo", "enwiki-reverted", "--slo", "p99<=2000ms", "--start", "4",
                             "--duration", "2", "--steps", "2", "--results", str(tmp_path / "r"),
                             "--json", str(tmp_path / "slo.json")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads((tmp_path / "slo.json").read_text())
    assert data["through"] == "services" and len(data["sweep"]) == 2
    first = data["sweep"][0]
    assert first["requests"] > 0 and first["p50_ms"] <= first["p99_ms"] and first["dropped"] == 0
    assert data["max_rps_within_slo"] == max((p["rps"] for p in data["sweep"] if p["met"]), default=0.0)
    assert "Most rps within the SLO" in result.stdout
    report = next((tmp_path / "r").rglob("slo-enwiki-reverted-services.png"))
    assert report.stat().st_size > 1000


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
