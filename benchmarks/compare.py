"""`lwt bench compare`: today's server and Triton side by side, in one run, on one machine.

Every server is started and stopped here, one scenario at a time on the same cores, so
ratios between scenarios are fair even on a noisy machine. REST closed-loop load comes
from `wrk` when it is installed (else from Python worker processes), gRPC and open-loop
load from Python worker processes; the generator's CPU is reported beside the server's.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks import wrk
from benchmarks.load import Target, run_load
from benchmarks.models import BenchModel
from benchmarks.resources import ResourceMonitor
from benchmarks.sweep import max_rate_within
from exporters.contract.events import fields
from lwt.stack.process import ManagedProcess, free_port, http_ok
from lwt.stack.triton import Ports, TritonServer

log = logging.getLogger("lwt.bench")


@dataclass
class Scenario:
    name: str
    target: Target
    pid: Callable[[], int]  # the server process to watch
    description: str
    concurrency: int | None = None  # None: the run's --concurrency
    python_load: bool = False  # the Python generator even when wrk is there (wrk gives up after 10 s)


def v2_body(row: dict[str, np.ndarray]) -> bytes:
    """The v2 JSON a client sends: one request, one row."""
    inputs = [{"name": n, "shape": list(a.shape), "datatype": "FP32" if a.dtype == np.float32 else "INT64",
               "data": a.ravel().tolist()} for n, a in row.items()]
    return json.dumps({"inputs": inputs}).encode()


def http_target(port: int, model: str, row: dict[str, np.ndarray] | list[dict[str, np.ndarray]]) -> Target:
    """One request's tensors, or several sent in turn (requests of many lengths)."""
    rows = row if isinstance(row, list) else [row]
    bodies = tuple(v2_body(r) for r in rows)
    return Target("http", "127.0.0.1", port, path=f"/v2/models/{model}/infer", body=bodies[0],
                  bodies=bodies if len(bodies) > 1 else ())


def grpc_target(port: int, model: str, row: dict[str, np.ndarray]) -> Target:
    return Target("grpc", "127.0.0.1", port, model=model,
                  inputs=tuple((n, "FP32" if a.dtype == np.float32 else "INT64", a) for n, a in row.items()))


def identity_row(bench: BenchModel) -> dict[str, np.ndarray]:
    first = next(iter(bench.row.values()))
    return {"input": first}


class BaselineServer(ManagedProcess):
    """The Lift Wing-style KServe server in its own process."""

    name = "the baseline server"
    start_timeout = 120.0

    def __init__(self, bench: BenchModel, workdir: Path) -> None:
        self.port = free_port()
        super().__init__(workdir / "baseline.log", {"http": self.port})
        self.bench = bench

    def command(self) -> list[str]:
        return [sys.executable, "-m", "benchmarks.baseline_server", "--kind", self.bench.baseline_kind,
                "--name", self.bench.name,
                "--model-path", str(self.bench.source), "--port", str(self.port)]

    def ready(self) -> bool:
        return http_ok(f"http://127.0.0.1:{self.port}/v2/models/{self.bench.name}/ready")


def scenarios_for(bench: BenchModel, triton: TritonServer, baseline: BaselineServer) -> list[Scenario]:
    if bench.scenarios is not None:
        return bench.scenarios(bench, triton, baseline)
    tpid = lambda: triton.process.pid  # noqa: E731
    row = bench.row
    if bench.kind == "tree":
        return [
            Scenario("baseline", http_target(baseline.port, bench.name, row), lambda: baseline.process.pid,
                     "KServe Python server, sklearn predict_proba per request (Lift Wing today)"),
            Scenario("triton", http_target(triton.ports.http, f"{bench.name}-nobatch", row), tpid,
                     "Triton + ONNX, dynamic batching off"),
            Scenario("triton-batched", http_target(triton.ports.http, bench.name, row), tpid,
                     "Triton + ONNX, dynamic batching on"),
            Scenario("identity", http_target(triton.ports.http, "identity", identity_row(bench)), tpid,
                     "identity model on the same Triton: the protocol ceiling"),
            Scenario("triton-batched-grpc", grpc_target(triton.ports.grpc, bench.name, row), tpid,
                     "Triton + ONNX, dynamic batching on, gRPC"),
            Scenario("identity-grpc", grpc_target(triton.ports.grpc, "identity", identity_row(bench)), tpid,
                     "identity model over gRPC"),
        ]
    return [
        Scenario("baseline", http_target(baseline.port, bench.name, row), lambda: baseline.process.pid,
                 "KServe Python server, PyTorch eager"),
        Scenario("triton-fp32", http_target(triton.ports.http, f"{bench.name}-fp32", row), tpid,
                 "Triton + ONNX fp32, dynamic batching"),
        Scenario("triton-int8", http_target(triton.ports.http, f"{bench.name}-int8", row), tpid,
                 "Triton + ONNX int8, dynamic batching"),
    ]


def measure(scenario: Scenario, concurrency: int, duration: float, rate: float = 0.0,
            use_wrk: bool = True) -> dict[str, Any]:
    with ResourceMonitor(scenario.pid()) as monitor:
        if scenario.target.protocol == "http" and not rate and use_wrk and wrk.available():
            result, generator = wrk.run_wrk(scenario.target, concurrency, duration), "wrk"
        else:
            result, generator = run_load(scenario.target, concurrency, duration, rate), "python"
    summary = result.summary()
    return {"name": scenario.name, **summary, "concurrency": concurrency, "rate": rate or None,
            "generator": generator, "server_cpu_percent": monitor.usage.cpu_percent,
            "server_max_rss_mb": monitor.usage.max_rss_mb,
            "loadgen_cpu_percent": round(100 * result.loadgen_cpu_s / max(result.duration_s, 1e-9), 1),
            "error_samples": result.error_samples, "description": scenario.description}


def warm_up(scenario: Scenario) -> None:
    run_load(scenario.target, 2, 1.0)


def compare(bench: BenchModel, workdir: Path, duration: float, concurrency: int,
            only: list[str] | None = None, slo: Any = None, use_wrk: bool = True) -> list[dict[str, Any]]:
    """Run every scenario once, one after the other, with the servers of this run."""
    results = []
    with ExitStack() as stack:
        triton = TritonServer(bench.repository, Ports(free_port(), free_port(), free_port()),
                              workdir=workdir / "triton")
        stack.callback(triton.stop)
        triton.start()
        baseline = BaselineServer(bench, workdir)
        stack.callback(baseline.stop)
        baseline.start()
        for scenario in scenarios_for(bench, triton, baseline):
            if only and scenario.name not in only:
                continue
            warm_up(scenario)
            clients = scenario.concurrency or concurrency
            result = measure(scenario, clients, duration, use_wrk=use_wrk and not scenario.python_load)
            if slo is not None:
                result["slo"] = max_rate_within(scenario, slo, result["rps"], duration, clients)
            log.info("scenario done", extra=fields(**{k: result[k] for k in ("name", "rps", "p50_ms", "p99_ms", "errors")}))
            results.append(result)
    return results
