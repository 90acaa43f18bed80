"""A smoke run of `lwt bench compare mini-embedding` as a user runs it (default log level,
every scenario, one second each): the PyTorch baseline, the service and Triton in fp32 and
int8, the fixture index build and `related` latency. No test asserts a speed."""

from __future__ import annotations

import json
import subprocess

import yaml

from lwt.stack.wiki import FIXTURES

SCENARIOS = ["baseline", "service-fp32", "service-int8", "triton-fp32", "triton-int8"]


def test_compare_mini_embedding_runs_every_scenario_and_reports_the_index(lwt, tmp_path):
    result = subprocess.run([*lwt, "bench", "compare", "mini-embedding", "--duration", "1",
                             "--results", str(tmp_path / "results"), "--json", str(tmp_path / "s.json")],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "lwt: error" not in result.stderr
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert not [e for e in logged if e.get("level") in ("ERROR", "CRITICAL")]
    assert [s["name"] for s in json.loads((tmp_path / "s.json").read_text())] == SCENARIOS
    [run_dir] = list((tmp_path / "results").iterdir())
    for scenario in json.loads((run_dir / "mini-embedding.json").read_text())["scenarios"]:
        assert scenario["answered"] > 0 and scenario["errors"] == 0, scenario.get("error_samples")
        assert scenario["concurrency"] == 8 and scenario["server_cpu_percent"] > 0
    [extras] = [e for e in logged if e.get("message") == "embedding index and related"]
    topic_pages = sum(len(titles) for titles in yaml.safe_load((FIXTURES / "topics.yaml").read_text())["topics"].values())
    assert extras["index"]["pages"] >= topic_pages and extras["related"]["queries"] > 0
    assert extras["int8"]["worst_cosine"] >= extras["int8"]["bound"]
    assert "### mini-embedding: related articles" in result.stdout
    assert "x the baseline's rps" in result.stdout and "- int8: recipe" in result.stdout
