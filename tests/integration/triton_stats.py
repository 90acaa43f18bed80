"""Triton's per-model statistics (`GET /v2/models/{name}/stats`), read as a test needs them.

Triton counts a request only after its backend has sent the response: a backend reports
the statistics of a batch once its responses are out. A client that holds its answer may
therefore read counters that have not moved yet; on a loaded machine they lagged behind a
finished request (issue 19: "assert (12 - 12) == 1"). A test waits until every row it
knows was computed is counted, then asserts on requests and executions exactly."""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class ModelStats:
    requests: int  # requests that succeeded
    inferences: int  # rows inferred, a batch of n counting n
    executions: int  # model executions: a dynamic batch of many requests is one


def read(http_url: str, model: str) -> ModelStats:
    with urllib.request.urlopen(f"http://{http_url}/v2/models/{model}/stats", timeout=10) as answer:
        stats = json.load(answer)["model_stats"][0]
    return ModelStats(int(stats["inference_stats"]["success"]["count"]), int(stats["inference_count"]),
                      int(stats["execution_count"]))


def counted(http_url: str, model: str, before: ModelStats, rows: int, timeout: float = 30.0) -> ModelStats:
    """The counters once at least `rows` more rows than `before` are counted: the rows of
    requests that have already been answered."""
    deadline = time.monotonic() + timeout
    while True:
        now = read(http_url, model)
        if now.inferences - before.inferences >= rows:
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"{model}: {rows} answered rows still not counted after {timeout:.0f} s "
                                 f"(before {before}, now {now})")
        time.sleep(0.02)
