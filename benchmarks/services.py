"""`lwt bench services`: the transformer services' own overhead and their throughput.

1. Overhead: what the service adds, request in to response out (measured by the client)
   minus the time waiting for MediaWiki and for Triton (from the service's own per-stage
   log line of that request). Every scorable fixture revision once, sequentially, in
   chronological order (a page's parent before its child, as a change stream brings
   them), no score cache: each request does the whole path.
2. Throughput through the whole path (wiki + features + Triton) at a client concurrency,
   with 1 and with 2 service workers, in one run.
3. With `mediawiki_latency_ms`, a proxy adds that delay to every API call, as slow as
   production's API: single-revision requests against batched `rev_ids` requests show what
   batching and concurrency do when MediaWiki, not CPU, is the bound.
"""

from __future__ import annotations

import json
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.latency_proxy import LatencyProxy
from benchmarks.load import Target, run_load
from lwt.stack.process import free_port
from lwt.stack.services import ServicesProcess
from lwt.stack.triton import Ports, TritonServer
from lwt.stack.wiki import LocalWiki

SHIPPED = Path(__file__).resolve().parents[1] / "model_repository"
MODEL = "enwiki-reverted"
PATH = f"/v1/models/{MODEL}:predict"


def _post(url: str, body: bytes) -> tuple[int, float]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()
            status = answer.status
    except urllib.error.HTTPError as error:
        error.read()
        status = error.code
    return status, (time.perf_counter() - start) * 1000


def scorable(wiki: LocalWiki) -> list[int]:
    """Every fixture revision that has visible text, oldest first."""
    revs = json.loads((wiki.folder / "revisions.json").read_text())
    return sorted(r for role, r in revs.items() if not role.startswith("hidden"))


def overhead(services: ServicesProcess, rev_ids: list[int]) -> tuple[dict[str, Any], list[int]]:
    """The overhead figures, and the revisions that scored (a fixture revision whose parent
    is hidden answers 410: it is no request to load-test with)."""
    url = f"{services.url}{PATH}"
    lines_before = len(services.log_path.read_text().splitlines())
    sent = [(rev_id, *_post(url, json.dumps({"rev_id": rev_id}).encode())) for rev_id in rev_ids]
    time.sleep(0.5)  # the last log line is written after the answer
    logged = {l["keys"][0]: l for l in (json.loads(x) for x in services.log_path.read_text().splitlines()[lines_before:]
                                        if x.startswith("{") and '"scored"' in x) if "fetch_ms" in l}
    rows = [(ms, logged[r]) for r, status, ms in sent if status == 200 and r in logged]
    own = np.array([ms - l["fetch_ms"] - l["predict_ms"] for ms, l in rows])
    stages = {k: round(float(np.median([l[k] for _, l in rows])), 3) for k in ("fetch_ms", "features_ms", "predict_ms")}
    return {"requests": len(rows), "not_scored": len(sent) - len(rows), "overhead_p50_ms": round(float(np.median(own)), 3),
            "overhead_p90_ms": round(float(np.percentile(own, 90)), 3),
            "client_p50_ms": round(float(np.median([ms for ms, _ in rows])), 3), "stage_medians_ms": stages}, \
        [r for r, status, _ in sent if status == 200]


def measure_services(requests: int = 0, duration: float = 10.0, concurrency: int = 8,
                     workers: tuple[int, ...] = (1, 2), mediawiki_latency_ms: float = 0.0) -> dict[str, Any]:
    """`requests` caps the sequential overhead pass (0: every scorable revision)."""
    result: dict[str, Any] = {"concurrency": concurrency, "mediawiki_latency_ms": mediawiki_latency_ms}
    with tempfile.TemporaryDirectory(prefix="lwt-bench-svc-") as work:
        work_dir = Path(work)
        with LocalWiki(work_dir / "wiki", free_port()) as wiki, \
                TritonServer(SHIPPED, Ports(free_port(), free_port(), free_port()), workdir=work_dir / "t") as triton:
            rev_ids = scorable(wiki)[: requests or None]
            with ServicesProcess(SHIPPED, free_port(), triton.http_url, wiki.api_url,
                                 log_path=work_dir / "overhead.log", options={"cache": "none"}) as services:
                _post(f"{services.url}{PATH}", json.dumps({"rev_id": rev_ids[0]}).encode())  # warm-up
                result["overhead"], scored = overhead(services, rev_ids[1:])
            body = json.dumps({"rev_id": scored[len(scored) // 2]}).encode()
            result["throughput"] = []
            for count in workers:
                with ServicesProcess(SHIPPED, free_port(), triton.http_url, wiki.api_url,
                                     log_path=work_dir / f"w{count}.log",
                                     options={"cache": "none", "workers": count}) as services:
                    target = Target("http", "127.0.0.1", services.port, path=PATH, body=body)
                    run_load(target, concurrency, 1.0)  # warm every worker
                    load = run_load(target, concurrency, duration).summary()
                result["throughput"].append({"workers": count, **{k: load[k] for k in (
                    "rps", "p50_ms", "p90_ms", "p99_ms", "errors", "loadgen_cpu_s")}})
            if mediawiki_latency_ms:
                result["slow_mediawiki"] = _slow_mediawiki(wiki, triton, work_dir, rev_ids, concurrency, duration,
                                                           mediawiki_latency_ms)
    return result


def _slow_mediawiki(wiki: LocalWiki, triton: TritonServer, work_dir: Path, rev_ids: list[int], concurrency: int,
                    duration: float, delay_ms: float) -> list[dict[str, Any]]:
    batch = rev_ids[:20]
    rows = []
    with LatencyProxy(wiki.api_url, delay_ms) as proxy, \
            ServicesProcess(SHIPPED, free_port(), triton.http_url, proxy.url, log_path=work_dir / "slow.log",
                            options={"cache": "none", "mediawiki-timeout": max(5.0, delay_ms / 1000 * 6)}) as services:
        for name, body, per_request in (("single rev_id", {"rev_id": batch[0]}, 1),
                                        (f"rev_ids x{len(batch)}", {"rev_ids": batch}, len(batch))):
            target = Target("http", "127.0.0.1", services.port, path=PATH, body=json.dumps(body).encode())
            load = run_load(target, concurrency, duration).summary()
            rows.append({"requests": name, "rps": load["rps"], "revisions_per_s": round(load["rps"] * per_request, 1),
                         "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"], "errors": load["errors"]})
    return rows


RR_MODEL = "revertrisk-language-agnostic"


def measure_revertrisk(duration: float = 10.0, concurrency: int = 8, batch: int = 20) -> dict[str, Any]:
    """revertrisk-language-agnostic's own overhead: every scorable fixture revision as a
    single `{"lang", "rev_id"}` request, then as `instances` of `batch`, client time minus the
    service's logged MediaWiki and Triton time (the rest: parsing, features, answers); then a
    closed loop of single requests through the whole path."""
    with tempfile.TemporaryDirectory(prefix="lwt-bench-rr-") as work:
        work_dir = Path(work)
        with LocalWiki(work_dir / "wiki", free_port()) as wiki, \
                TritonServer(SHIPPED, Ports(free_port(), free_port(), free_port()), workdir=work_dir / "t") as triton, \
                ServicesProcess(SHIPPED, free_port(), triton.http_url, wiki.api_url, models=[RR_MODEL],
                                log_path=work_dir / "rr.log", options={"cache": "none"}) as services:
            rev_ids = scorable(wiki)
            url = f"{services.url}/v1/models/{RR_MODEL}:predict"
            bodies = [{"lang": "en", "rev_id": r} for r in rev_ids]
            _post(url, json.dumps(bodies[0]).encode())  # warm-up
            singles = _timed(services, url, bodies)
            batches = _timed(services, url, [{"instances": bodies[i:i + batch]} for i in range(0, len(bodies), batch)])
            target = Target("http", "127.0.0.1", services.port, path=f"/v1/models/{RR_MODEL}:predict",
                            body=json.dumps(bodies[len(bodies) // 2]).encode())
            run_load(target, concurrency, 1.0)
            load = run_load(target, concurrency, duration).summary()
    return {"model": RR_MODEL, "single": singles, f"instances_x{batch}": batches, "concurrency": concurrency,
            "closed_loop": {k: load[k] for k in ("rps", "p50_ms", "p90_ms", "p99_ms", "errors")}}


def _timed(services: ServicesProcess, url: str, bodies: list[dict[str, Any]]) -> dict[str, Any]:
    """Sequential requests, each paired with its own `scored` log line (in order)."""
    lines_before = len(services.log_path.read_text().splitlines())
    sent = [_post(url, json.dumps(body).encode()) for body in bodies]
    time.sleep(0.5)  # the last log line is written after the answer
    logged = [json.loads(x) for x in services.log_path.read_text().splitlines()[lines_before:]
              if x.startswith("{") and '"scored"' in x]
    rows = [(ms, l) for (status, ms), l in zip(sent, logged) if status == 200 and "predict_ms" in l]
    own = np.array([ms - l["fetch_ms"] - l["predict_ms"] for ms, l in rows])
    stages = {k: round(float(np.median([l[k] for _, l in rows])), 3)
              for k in ("fetch_ms", "features_ms", "predict_ms", "mediawiki_calls")}
    return {"requests": len(rows), "overhead_p50_ms": round(float(np.median(own)), 3),
            "overhead_p90_ms": round(float(np.percentile(own, 90)), 3),
            "client_p50_ms": round(float(np.median([ms for ms, _ in rows])), 3), "stage_medians": stages,
            "max_mediawiki_calls": max(int(l["mediawiki_calls"]) for _, l in rows)}
