"""Prometheus metrics of the services, per model and stage; exported on KServe's /metrics."""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from prometheus_client import Counter, Histogram

STAGE_SECONDS = Histogram(
    "lwt_stage_seconds", "Time per request stage (fetch, features, tokenize, predict)",
    ["model", "stage"], buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ERRORS = Counter("lwt_errors_total", "Errors answered, by model and type", ["model", "type"])
REQUESTS = Counter("lwt_requests_total", "Requests parsed, by model and form (single, batch, v2, ...)",
                   ["model", "form"])
CACHE = Counter("lwt_cache_total", "Score cache lookups and writes, by outcome (hit, miss, error, stored)",
                ["outcome"])


@contextmanager
def stage(model: str, name: str, timings: dict[str, float]) -> Iterator[None]:
    """Time one stage into the histogram and into the request's own timings (ms)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        STAGE_SECONDS.labels(model, name).observe(elapsed)
        timings[f"{name}_ms"] = round(elapsed * 1000, 3)
