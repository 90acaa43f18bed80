"""`lwt bench tune`: the dynamic-batching settings that give the most rps within the SLO.

Sweeps `max_queue_delay_microseconds`, preferred batch sizes and instance counts on one
Triton (explicit model control: each candidate config is written and the model reloaded
through Triton's repository API), measures each under the same closed-loop load, and
writes the winning `config.pbtxt`. Triton's model analyzer does this for one model alone.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
import urllib.request
from pathlib import Path
from typing import Any

from google.protobuf import text_format

from benchmarks.compare import Scenario, http_target, measure, warm_up
from benchmarks.models import BenchModel
from benchmarks.sweep import Slo
from exporters.contract.events import fields
from exporters.contract.layout import CONFIG
from exporters.triton_config import read_config
from lwt.stack.process import free_port
from lwt.stack.triton import Ports, TritonServer

log = logging.getLogger("lwt.bench.tune")

QUEUE_DELAYS = (0, 100, 500, 2000)
PREFERRED = ((), (8, 16, 32))
INSTANCES = (1, 2)


def candidate(base: Any, delay: int, preferred: tuple[int, ...], instances: int) -> Any:
    config = type(base)()
    config.CopyFrom(base)
    config.dynamic_batching.max_queue_delay_microseconds = delay
    del config.dynamic_batching.preferred_batch_size[:]
    config.dynamic_batching.preferred_batch_size.extend(b for b in preferred if b <= config.max_batch_size)
    config.instance_group[0].count = instances
    return config


def _reload(triton: TritonServer, model: str) -> None:
    request = urllib.request.Request(f"http://{triton.http_url}/v2/repository/models/{model}/load", data=b"{}",
                                     method="POST", headers=triton.admin_headers)  # a restricted API
    with urllib.request.urlopen(request, timeout=120):
        pass


def tune(bench: BenchModel, workdir: Path, duration: float, concurrency: int, slo: Slo | None,
         output: Path, delays: tuple[int, ...] = QUEUE_DELAYS, preferred_sizes: tuple[tuple[int, ...], ...] = PREFERRED,
         instances: tuple[int, ...] = INSTANCES) -> dict[str, Any]:
    repository = workdir / "repository"
    shutil.rmtree(repository, ignore_errors=True)
    shutil.copytree(bench.repository / bench.name, repository / bench.name)
    config_path = repository / bench.name / CONFIG
    base = read_config(config_path)
    trials = []
    with TritonServer(repository, Ports(free_port(), free_port(), free_port()), workdir=workdir / "triton",
                      model_control_mode="explicit", extra_args=(f"--load-model={bench.name}",)) as triton:
        scenario = Scenario(bench.name, http_target(triton.ports.http, bench.name, bench.row),
                            lambda: triton.process.pid, "tuning")
        for delay, preferred, count in itertools.product(delays, preferred_sizes, instances):
            config = candidate(base, delay, preferred, count)
            config_path.write_text(text_format.MessageToString(config))
            _reload(triton, bench.name)
            warm_up(scenario)
            result = measure(scenario, concurrency, duration)
            trial = {"max_queue_delay_microseconds": delay, "preferred_batch_size": list(preferred),
                     "instance_count": count, "rps": result["rps"], "p50_ms": result["p50_ms"],
                     "p99_ms": result["p99_ms"], "errors": result["errors"],
                     "within_slo": slo.met(result) if slo else True}
            log.info("trial", extra=fields(**trial))
            trials.append((trial, config))
    eligible = [t for t in trials if t[0]["within_slo"]] or trials
    best_trial, best_config = max(eligible, key=lambda t: t[0]["rps"])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text_format.MessageToString(best_config))
    summary = {"model": bench.name, "slo": str(slo) if slo else None, "best": best_trial,
               "met_slo": bool(best_trial["within_slo"]), "config": str(output), "trials": [t for t, _ in trials]}
    (output.parent / f"{bench.name}.tune.json").write_text(json.dumps(summary, indent=2))
    return summary
