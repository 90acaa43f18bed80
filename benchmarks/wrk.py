"""REST closed-loop load with Debian's `wrk` (C, event-driven): a generator that costs the
server's two cores far less than Python would. Its Lua script posts one fixed body and
prints the summary and latency percentiles as JSON."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.load import LoadResult, Target

_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {}
for line in io.lines("%s") do bodies[#bodies + 1] = line end
wrk.body = bodies[1]
local turn = 0
request = function()
  turn = turn %% #bodies + 1
  return wrk.format(nil, nil, nil, bodies[turn])
end
done = function(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local q = {}
  for _, p in ipairs({50, 90, 95, 99}) do q[tostring(p)] = latency:percentile(p) / 1000.0 end
  io.write(string.format('WRK_JSON {"requests": %%d, "errors": %%d, "duration_us": %%d, "p50": %%f, "p90": %%f, "p95": %%f, "p99": %%f, "max": %%f}\\n',
    summary.requests, errors, summary.duration, q["50"], q["90"], q["95"], q["99"], latency.max / 1000.0))
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(target: Target, concurrency: int, duration: float, threads: int = 1) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="lwt-wrk-") as work:
        body = Path(work) / "body"
        body.write_bytes(b"\n".join(target.bodies or (target.body,)) + b"\n")  # one JSON body per line
        script = Path(work) / "post.lua"
        script.write_text(_SCRIPT % body)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration:.0f}s", "--timeout", "10s",
                              "-s", str(script), f"http://{target.host}:{target.port}{target.path}"],
                             capture_output=True, text=True, timeout=duration + 60)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((l for l in out.stdout.splitlines() if l.startswith("WRK_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary: {out.stderr.strip()[:200] or out.stdout[-200:]}")
    data = json.loads(line[len("WRK_JSON "):])
    answered = data["requests"] - data["errors"]
    # wrk keeps a histogram, not every sample: the quantiles are carried as a tiny sample set.
    quantiles = np.array([data["p50"], data["p90"], data["p95"], data["p99"], data["max"]])
    result = LoadResult(sent=data["requests"], answered=answered, errors=data["errors"],
                        duration_s=data["duration_us"] / 1e6, latencies_ms=quantiles,
                        loadgen_cpu_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime))
    result.quantiles = {50: data["p50"], 90: data["p90"], 95: data["p95"], 99: data["p99"], 100: data["max"]}
    return result
