"""SLOs (`p99<=50ms`) and the open-loop rate sweep that finds the most rps within one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from benchmarks.load import run_load

_SLO = re.compile(r"^p(50|90|95|99)\s*<=\s*([0-9.]+)\s*ms$")


@dataclass(frozen=True)
class Slo:
    percentile: int
    limit_ms: float

    @classmethod
    def parse(cls, text: str) -> "Slo":
        match = _SLO.match(text.strip())
        if not match:
            raise ValueError(f"SLO {text!r} is not of the form p99<=50ms (p50, p90, p95 or p99)")
        return cls(int(match.group(1)), float(match.group(2)))

    def met(self, result: dict[str, Any]) -> bool:
        return result["errors"] == 0 and result[f"p{self.percentile}_ms"] <= self.limit_ms

    def __str__(self) -> str:
        return f"p{self.percentile}<={self.limit_ms:g}ms"


FRACTIONS = (0.25, 0.5, 0.7, 0.85, 1.0, 1.15)


def max_rate_within(scenario: Any, slo: Slo, closed_rps: float, duration: float, concurrency: int) -> dict[str, Any]:
    """Open loop at rising fractions of the closed-loop rps; the highest rate meeting the SLO.
    Latency is counted from each request's scheduled time, so queueing counts against it."""
    points, best = [], 0.0
    for fraction in FRACTIONS:
        rate = max(1.0, closed_rps * fraction)
        result = run_load(scenario.target, max(concurrency, 4), max(duration / 2, 2.0), rate=rate).summary()
        point = {"rate": round(rate, 1), "rps": result["rps"], f"p{slo.percentile}_ms": result[f"p{slo.percentile}_ms"],
                 "p99_ms": result["p99_ms"], "errors": result["errors"], "met": slo.met(result)}
        points.append(point)
        if point["met"]:
            best = max(best, result["rps"])
        else:
            break
    return {"slo": str(slo), "max_rps_within_slo": round(best, 1), "sweep": points}
