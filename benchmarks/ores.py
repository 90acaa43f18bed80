"""`lwt bench ores`: a client needs 3 models x 50 revisions of enwiki.

  ores-v3         one ORES v3 request (`/v3/scores/enwiki/?models=a|b|c&revids=...`), score cache off
  single-calls    150 v1 calls (one per revision and model) at client concurrency 8, score cache
                  off: what the ORES compatibility layer does today against Lift Wing
  ores-v3-cached  the v3 request again with the cache warm (the embedded LRU, or `--cache redis`)

Everything is real and local: the fixture MediaWiki (its generated dump holds 72 ordinary
edits), Triton serving `enwiki-reverted` (shipped) with `enwiki-damaging` and
`enwiki-goodfaith` (editquality's 80-feature lists at ORES' sizes, trained on generated rows,
`benchmarks.ores_models`), and the services. (a) and (b) run `rounds` times each; (c)
`cached_requests` sequential requests. Per scenario: wall time of one round (the time the
client waits for its 150 scores, median), requests per second, per-request p50/p99, errors;
and the services' own stage times from their log lines, to say what bounds each.
"""

from __future__ import annotations

import fcntl
import http.client
import json
import os
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks.latency_proxy import LatencyProxy
from benchmarks.models import CACHE
from benchmarks.ores_models import train_editquality
from exporters.tree.export import TreeExportOptions, export_tree
from lwt.stack.process import free_port
from lwt.stack.redis import RedisServer
from lwt.stack.services import ServicesProcess
from lwt.stack.triton import Ports, TritonServer
from lwt.stack.wiki import LocalWiki, WikiError

SHIPPED = Path(__file__).resolve().parents[1] / "model_repository"
MODELS = ("damaging", "goodfaith", "reverted")
REVISIONS = 50


def build_repository(cache: Path = CACHE) -> Path:
    """reverted (shipped) + damaging and goodfaith at ORES' sizes, built once into
    `.cache/bench/ores/` under a lock."""
    folder = cache / "ores"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".ores.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        repository = folder / "repository"
        if not (folder / ".built").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            shutil.copytree(SHIPPED / "enwiki-reverted", repository / "enwiki-reverted")
            for seed, kind in enumerate(("damaging", "goodfaith")):
                model_file = train_editquality(kind, folder / f"enwiki.{kind}.gradient_boosting.model", seed=seed)
                export_tree(model_file, TreeExportOptions(name=f"enwiki-{kind}", repository=repository, version=1,
                                                          progress=False))
            (folder / ".built").touch()
        return repository


class _Client:
    """One keep-alive HTTP/1.1 connection per thread: the client adds little to what is measured."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._local = threading.local()

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[bool, float]:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        start = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            payload = answer.read()
            ok = answer.status == 200 and b'"error"' not in payload
        except (OSError, http.client.HTTPException):
            connection.close()
            self._local.connection = None
            ok = False
        return ok, (time.perf_counter() - start) * 1000


def _scenario(name: str, rounds: list[tuple[float, list[tuple[bool, float]]]]) -> dict[str, Any]:
    walls = [w for w, _ in rounds]
    calls = [c for _, round_calls in rounds for c in round_calls]
    latencies = np.array([ms for ok, ms in calls if ok]) if calls else np.array([])
    total = sum(walls)
    return {"name": name, "wall_s": round(float(np.median(walls)), 4), "rps": round(len(calls) / total, 1),
            "p50_ms": round(float(np.percentile(latencies, 50)), 3) if latencies.size else None,
            "p99_ms": round(float(np.percentile(latencies, 99)), 3) if latencies.size else None,
            "errors": sum(not ok for ok, _ in calls), "requests": len(calls), "rounds": len(rounds)}


def _timed(work: Callable[[], list[tuple[bool, float]]]) -> tuple[float, list[tuple[bool, float]]]:
    start = time.perf_counter()
    calls = work()
    return time.perf_counter() - start, calls


def _stage_medians(log: Path, skip: int, message: str, keys: tuple[str, ...]) -> dict[str, float]:
    lines = [json.loads(l) for l in log.read_text().splitlines()[skip:] if l.startswith("{") and f'"{message}"' in l]
    return {k: round(float(np.median([l[k] for l in lines if k in l])), 3) for k in keys
            if any(k in l for l in lines)}


def _lines(log: Path) -> int:
    return len(log.read_text().splitlines())


def measure_ores(rounds: int = 5, cached_requests: int = 300, concurrency: int = 8, cache: str = "memory",
                 mediawiki_latency_ms: float = 0.0) -> list[dict[str, Any]]:
    """The three scenarios; with `mediawiki_latency_ms` every MediaWiki call is that much
    slower (`benchmarks.latency_proxy`), as production's API is."""
    repository = build_repository()
    with tempfile.TemporaryDirectory(prefix="lwt-bench-ores-") as work, ExitStack() as servers:
        work_dir = Path(work)
        wiki = servers.enter_context(LocalWiki(work_dir / "wiki", free_port()))
        triton = servers.enter_context(TritonServer(repository, Ports(free_port(), free_port(), free_port()),
                                                    workdir=work_dir / "triton"))
        api_url = servers.enter_context(LatencyProxy(wiki.api_url, mediawiki_latency_ms)).url \
            if mediawiki_latency_ms else wiki.api_url
        revs = json.loads((wiki.folder / "revisions.json").read_text())
        rev_ids = [r for role, r in revs.items() if role.startswith("recent_")][:REVISIONS]
        if len(rev_ids) < REVISIONS:
            raise WikiError(f"the fixture wiki has {len(rev_ids)} generated revisions, {REVISIONS} needed")
        v3_path = f"/v3/scores/enwiki/?models={'|'.join(MODELS)}&revids={'|'.join(map(str, rev_ids))}"
        uncached = ServicesProcess(repository, free_port(), triton.http_url, api_url,
                                   log_path=work_dir / "uncached.log", options={"cache": "none"})
        with uncached:
            results = _uncached(uncached, v3_path, rev_ids, rounds, concurrency)
        with ExitStack() as stack:
            url = "memory"
            if cache == "redis":
                url = stack.enter_context(RedisServer(work_dir / "redis", free_port())).url
            cached = stack.enter_context(ServicesProcess(repository, free_port(), triton.http_url, api_url,
                                                         log_path=work_dir / "cached.log", options={"cache": url}))
            results.append(_cached(cached, v3_path, cached_requests, cache))
    return results


def _uncached(services: ServicesProcess, v3_path: str, rev_ids: list[int], rounds: int,
              concurrency: int) -> list[dict[str, Any]]:
    client = _Client(services.port)
    singles = [(f"/v1/models/enwiki-{m}:predict", json.dumps({"rev_id": r}).encode()) for r in rev_ids for m in MODELS]
    client.call("GET", v3_path)  # warm-up: imports, connection pools, the first solves
    for path, body in singles[:: len(MODELS) * 10]:
        client.call("POST", path, body)
    log, start = services.log_path, _lines(services.log_path)
    v3_rounds = [_timed(lambda: [client.call("GET", v3_path)]) for _ in range(rounds)]
    v3 = _scenario("ores-v3", v3_rounds)
    v3["stages_ms"] = _stage_medians(log, start, "ores v3 scored", (
        "fetch_ms", "features_ms", *(f"predict_ms.{m}" for m in MODELS), "total_ms"))
    start = _lines(log)
    with ThreadPoolExecutor(concurrency) as pool:
        single_rounds = [_timed(lambda: list(pool.map(lambda c: client.call("POST", *c), singles)))
                         for _ in range(rounds)]
    single = _scenario("single-calls", single_rounds)
    single["stages_ms"] = _stage_medians(log, start, "scored", ("fetch_ms", "features_ms", "predict_ms"))
    single["concurrency"] = concurrency
    return [v3, single]


def _cached(services: ServicesProcess, v3_path: str, requests: int, cache: str) -> dict[str, Any]:
    client = _Client(services.port)
    ok, _ = client.call("GET", v3_path)  # fills the cache
    if not ok:
        raise RuntimeError("the v3 request failed on the cached services; see their log")
    for _ in range(20):
        client.call("GET", v3_path)
    start = _lines(services.log_path)
    calls = [client.call("GET", v3_path) for _ in range(requests)]
    result = _scenario("ores-v3-cached", [(ms / 1000, [(ok, ms)]) for ok, ms in calls])
    result["stages_ms"] = _stage_medians(services.log_path, start, "ores v3 scored", ("total_ms",))
    result["cache"] = cache
    return result


def machine_note() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.1f} at the end"
