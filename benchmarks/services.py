"""`lwt bench services`: the transformer services' own overhead and their throughput.

Overhead is what the service adds: request in to response out (measured by the client)
minus the time waiting for MediaWiki and for Triton (from the service's own per-stage
log line of that request). Requests are sequential so each log line pairs with one
request. A closed-loop run through the whole path (wiki + features + Triton) follows.
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.load import Target, run_load
from lwt.stack.process import free_port
from lwt.stack.services import ServicesProcess
from lwt.stack.triton import Ports, TritonServer
from lwt.stack.wiki import LocalWiki

SHIPPED = Path(__file__).resolve().parents[1] / "model_repository"
ROLES = ("good_edit", "vandalism_badwords", "vandalism_keymash", "bot_fix", "vandalism_informal", "created")


def _post(url: str, body: bytes) -> float:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as answer:
        answer.read()
    return (time.perf_counter() - start) * 1000


def measure_services(requests: int = 300, duration: float = 10.0, concurrency: int = 8) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lwt-bench-svc-") as work:
        work_dir = Path(work)
        with LocalWiki(work_dir / "wiki", free_port()) as wiki, \
                TritonServer(SHIPPED, Ports(free_port(), free_port(), free_port()), workdir=work_dir / "t") as triton, \
                ServicesProcess(SHIPPED, free_port(), triton.http_url, wiki.api_url,
                                log_path=work_dir / "services.log",
                                options={"cache": "none"}) as services:  # every request does the whole path
            revs = json.loads((wiki.folder / "revisions.json").read_text())
            url = f"{services.url}/v1/models/enwiki-reverted:predict"
            bodies = [json.dumps({"rev_id": revs[r]}).encode() for r in ROLES]
            for body in bodies:  # warm-up: imports, connection pools, first solves
                _post(url, body)
            lines_before = len(services.log_path.read_text().splitlines())
            client_ms = [_post(url, bodies[i % len(bodies)]) for i in range(requests)]
            time.sleep(0.5)
            logged = [json.loads(l) for l in services.log_path.read_text().splitlines()[lines_before:]
                      if l.startswith("{") and '"scored"' in l]
            overhead = np.array([c - l["fetch_ms"] - l["predict_ms"] for c, l in zip(client_ms, logged)])
            stages = {k: float(np.median([l[k] for l in logged])) for k in ("fetch_ms", "features_ms", "predict_ms")}
            target = Target("http", "127.0.0.1", services.port, path="/v1/models/enwiki-reverted:predict",
                            body=bodies[1])
            load = run_load(target, concurrency, duration).summary()
    return {"requests": len(overhead), "overhead_p50_ms": round(float(np.median(overhead)), 3),
            "overhead_p90_ms": round(float(np.percentile(overhead, 90)), 3),
            "client_p50_ms": round(float(np.median(client_ms)), 3), "stage_medians_ms": stages,
            "closed_loop": load}
