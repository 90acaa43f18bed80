"""What every `lwt bench` report must hold, whatever the speed.

`test_readme.py` runs each benchmark exactly as the README prints it (durations shortened)
and checks the report it wrote with these: every request answered or counted as an error,
none failed in our scenarios, percentiles in order, every scenario there, the Markdown and
PNG written. The README's runs are the benchmarks' smoke runs: one run each, not one here and one there.
No check asserts a speed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from lwt.stack.wiki import FIXTURES

# `lwt bench compare MODEL`'s scenarios, in report order, where the README runs them all.
COMPARE_SCENARIOS = {
    "enwiki-reverted": ["baseline", "triton", "triton-batched", "identity", "triton-batched-grpc", "identity-grpc"],
    "mini-embedding": ["baseline", "service-fp32", "service-int8", "triton-fp32", "triton-int8"],
    "article-descriptions-tiny": ["baseline-c1", "triton-fp32-c1", "triton-int8-c1",
                                  "baseline-c8", "triton-fp32-c8", "triton-int8-c8"],
}


# What a baseline may answer under load: Lift Wing's generate()-per-request server runs the
# model on its event loop, so at concurrency 8 on a busy machine a request's MediaWiki
# deadline (5 s) can pass while other requests generate. That is the baseline measured (its
# errors are in the report's table), not a fault of the tool or of our services.
BASELINE_DEADLINE = "did not answer within"


def consistent(scenario: dict[str, Any]) -> None:
    """One closed-loop scenario: answered, error-free, percentiles in order, server measured.
    Our scenarios have no error at all; a baseline's only errors are its own deadline."""
    assert scenario["sent"] == scenario["answered"] + scenario["errors"], scenario
    samples = scenario.get("error_samples") or []
    baseline_deadline = scenario["name"].startswith("baseline") and samples and \
        all(BASELINE_DEADLINE in sample for sample in samples)
    assert scenario["answered"] > 0 and (scenario["errors"] == 0 or baseline_deadline), samples
    assert scenario["p50_ms"] <= scenario["p90_ms"] <= scenario["p99_ms"] <= scenario["max_ms"], scenario
    assert scenario["rps"] > 0 and scenario["server_cpu_percent"] > 0 and scenario["server_max_rss_mb"] > 0, scenario


def structured_log(stderr: str) -> list[dict[str, Any]]:
    """At the default level stderr is our structured log: JSON lines from our own loggers,
    no library chatter through the root logger, no warnings printed around it."""
    records = [json.loads(line) for line in stderr.strip().splitlines()]  # a line that is not JSON fails here
    assert [r for r in records if r["name"] == "root"] == [], stderr[-3000:]
    return records


def compare(model: str, slim: list[dict[str, Any]], stdout: str, stderr: str) -> None:
    names = [s["name"] for s in slim]
    assert names == COMPARE_SCENARIOS.get(model, names) and names[0].startswith("baseline") and len(names) >= 2
    for s in slim:
        assert set(s) >= {"name", "rps", "p50_ms", "p90_ms", "p99_ms", "errors"}
    full_path = Path(re.search(rf"^results: (\S+/{re.escape(model)}\.json), ", stdout, re.MULTILINE).group(1))
    full = json.loads(full_path.read_text())
    assert [s["name"] for s in full["scenarios"]] == names
    for scenario in full["scenarios"]:
        consistent(scenario)
    assert full_path.with_suffix(".png").stat().st_size > 1000
    assert f"| {names[0]} |" in full_path.with_suffix(".md").read_text() and "x the baseline's rps" in stdout
    records = structured_log(stderr)
    if model == "article-descriptions-tiny":  # each against the baseline at its own concurrency
        for scenario in full["scenarios"]:
            assert scenario["concurrency"] == int(scenario["name"][-1])
        for name in names[1:3] + names[4:]:
            assert f"- {name}: " in stdout and "x the baseline's rps, p95" in stdout
        assert sum(r["message"] == "scenario done" for r in records) == len(names)
        assert [r for r in records if r["level"] in ("WARNING", "ERROR")] == []
    if model == "mini-embedding":
        assert all(scenario["concurrency"] == 8 for scenario in full["scenarios"])
        [extras] = [r for r in records if r["message"] == "embedding index and related"]
        topics = yaml.safe_load((FIXTURES / "topics.yaml").read_text())["topics"]
        assert extras["index"]["pages"] >= sum(len(titles) for titles in topics.values())
        assert extras["related"]["queries"] > 0 and extras["int8"]["worst_cosine"] >= extras["int8"]["bound"]
        assert "### mini-embedding: related articles" in stdout and "- int8: recipe" in stdout
        assert [r for r in records if r["level"] in ("ERROR", "CRITICAL")] == []


def services(model: str, data: dict[str, Any], stdout: str, stderr: str) -> None:
    if model == "revertrisk-language-agnostic":
        for form in ("single", "instances_x20"):
            own = data[form]
            assert own["requests"] > 0 and 1 <= own["max_mediawiki_calls"] <= 3, own
            assert 0 < own["stage_medians"]["fetch_ms"] < own["client_p50_ms"], own
        assert data["single"]["requests"] >= 100
        assert data["closed_loop"]["errors"] == 0 and data["closed_loop"]["rps"] > 0
        assert "revertrisk-language-agnostic single: overhead" in stdout
        return
    own = data["overhead"]
    assert own["requests"] > 0 and 0 < own["overhead_p50_ms"] <= own["client_p50_ms"], own
    assert [row["workers"] for row in data["throughput"]] == [1, 2]
    for row in data["throughput"]:
        assert row["errors"] == 0 and row["rps"] > 0 and row["p50_ms"] <= row["p99_ms"], row
    assert "2 worker(s)" in stdout
    if data["mediawiki_latency_ms"]:
        single, batched = data["slow_mediawiki"]
        assert single["errors"] == 0 and batched["errors"] == 0
        assert single["p50_ms"] >= 2 * data["mediawiki_latency_ms"]  # two API calls, each that late
        assert batched["revisions_per_s"] > 0 and "revisions/s" in stdout


def slo(model: str, data: dict[str, Any], stdout: str, stderr: str) -> None:
    assert data["sweep"], data
    first = data["sweep"][0]
    assert first["requests"] > 0 and first["p50_ms"] <= first["p99_ms"] and first["dropped"] == 0, first
    assert data["max_rps_within_slo"] == max((p["rps"] for p in data["sweep"] if p["met"]), default=0.0)
    assert "Most rps within the SLO" in stdout
    png = re.search(rf"^results: \S+, (\S+slo-{re.escape(model)}-{data['through']}\.png)$", stdout, re.MULTILINE).group(1)
    assert Path(png).stat().st_size > 1000


CHAOS_STATUS = {"triton-stopped": "503", "triton-killed": "503", "mediawiki-stopped": "502",
                "mediawiki-slow": "504", "redis-stopped": "200"}


def chaos(model: str, rows: list[dict[str, Any]], stdout: str, stderr: str) -> None:
    assert rows
    for row in rows:
        assert row["hung"] == 0 and row["lost"] == 0, row
        assert row["by_status"].get(CHAOS_STATUS[row["fault"]], 0) > 0, row  # the fault seen, with its status
        assert row["by_status"].get("200", 0) > 0 and row["recovered_after_repair_s"] is not None, row
        assert f"| {row['fault']} |" in stdout


def ores(model: str, rows: list[dict[str, Any]], stdout: str, stderr: str) -> None:
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) >= {"ores-v3", "single-calls", "ores-v3-cached"}, by_name
    for row in rows:
        assert row["errors"] == 0 and row["wall_s"] > 0 and row["p50_ms"] <= row["p99_ms"], row
    assert "one v3 request is" in stdout


CHECKS: dict[str, Callable[[str, Any, str, str], None]] = {
    "compare": compare, "services": services, "slo": slo, "chaos": chaos, "ores": ores}


def check_block(script: str, stdout: str, stderr: str) -> int:
    """Check the report of every `lwt bench ... --json FILE` of a README block; how many."""
    checked = 0
    for line in script.splitlines():
        if not line.startswith(".venv/bin/lwt bench "):
            continue
        action = line.split()[2]
        found = re.search(r"--json (\S+)", line)
        assert found, f"a README benchmark writes its report with --json, to be checked: {line}"
        model = line.split()[3] if not line.split()[3].startswith("-") else ""
        if action == "services":
            named = re.search(r"--model (\S+)", line)
            model = named.group(1) if named else "enwiki-reverted"
        CHECKS[action](model, json.loads(Path(found.group(1)).read_text()), stdout, stderr)
        checked += 1
    return checked
