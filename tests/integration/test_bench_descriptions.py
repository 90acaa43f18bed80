"""A smoke run of `lwt bench compare article-descriptions-tiny` as a user runs it (default log
level): Lift Wing's generate()-per-request server against the service batching on Triton,
fp32 and int8, at concurrency 1 and 8. The tiny model (the large one is the same code on
another shape). No test asserts a speed."""

from __future__ import annotations

import json
import subprocess

SCENARIOS = ["baseline-c1", "triton-fp32-c1", "triton-int8-c1", "baseline-c8", "triton-fp32-c8", "triton-int8-c8"]


def test_compare_article_descriptions_runs_every_scenario(lwt, tmp_path):
    result = subprocess.run([*lwt, "bench", "compare", "article-descriptions-tiny", "--duration", "1",
                             "--results", str(tmp_path / "results"), "--json", str(tmp_path / "s.json")],
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [s["name"] for s in json.loads((tmp_path / "s.json").read_text())] == SCENARIOS
    [run_dir] = list((tmp_path / "results").iterdir())
    for scenario in json.loads((run_dir / "article-descriptions-tiny.json").read_text())["scenarios"]:
        assert scenario["answered"] > 0 and scenario["errors"] == 0, scenario.get("error_samples")
        assert scenario["sent"] == scenario["answered"] + scenario["errors"]
        assert scenario["concurrency"] == int(scenario["name"][-1]) and scenario["p95_ms"] > 0
    for name in SCENARIOS[1:3] + SCENARIOS[4:]:  # each against the baseline at its own concurrency
        assert f"- {name}: " in result.stdout and "x the baseline's rps, p95" in result.stdout
    # At the default level stderr is our structured log: JSON lines from our loggers, no
    # library chatter through the root logger, no warnings printed around it.
    lines = result.stderr.strip().splitlines()
    records = [json.loads(line) for line in lines]  # a line that is not JSON fails here
    assert [r for r in records if r["name"] == "root" or r["level"] in ("WARNING", "ERROR")] == []
    assert sum(r["message"] == "scenario done" for r in records) == len(SCENARIOS)
