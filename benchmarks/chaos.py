"""`lwt bench chaos`: what clients see while the parts behind the services fail.

A bounded open-loop load (a fixed rate of single-revision requests, each with a client
timeout of the services' deadline plus a margin) runs against the whole path while one
fault at a time is injected and then repaired:

- triton-stopped: Triton stopped for a while (the supervisor held off), then started;
- triton-killed: Triton SIGKILLed; `lwt serve`'s supervisor restarts it by itself;
- mediawiki-stopped: the wiki (nginx + PHP-FPM) stopped for a while, then started;
- mediawiki-slow: every API call made slower than the services' deadline, then fast again;
- redis-stopped: (with `--cache redis`) the shared score cache stopped, then started.

Per fault: requests by status, time from the fault to the first error, time from the
repair to recovery (the first success after which no 5xx follows), requests that hung
past their deadline and answers lost (no HTTP answer at all). Hung and lost must be 0.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import tempfile
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from benchmarks.latency_proxy import LatencyProxy
from lwt.stack.process import free_port
from lwt.stack.services import ServicesProcess
from lwt.stack.supervisor import TritonSupervisor
from lwt.stack.triton import Ports, TritonServer
from lwt.stack.wiki import LocalWiki

SHIPPED = Path(__file__).resolve().parents[1] / "model_repository"
MODEL = "enwiki-reverted"
DEADLINE_S = 2.0  # the services' MediaWiki deadline during the run
MARGIN_S = 3.0  # beyond deadline + margin a request counts as hung


@dataclass
class Sample:
    sent: float
    done: float
    status: int | None  # None: no HTTP answer at all (lost)


@dataclass
class Load:
    """Open loop at `rate` requests/s from a few threads, one keep-alive connection each."""

    port: int
    bodies: list[bytes]
    rate: float
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _worker(self, index: int, workers: int) -> None:
        connection: http.client.HTTPConnection | None = None
        interval = workers / self.rate
        next_at = time.monotonic() + index * interval / workers
        while not self._stop.is_set():
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            sent = time.monotonic()
            status: int | None = None
            try:
                connection = connection or http.client.HTTPConnection("127.0.0.1", self.port,
                                                                      timeout=DEADLINE_S + MARGIN_S)
                connection.request("POST", f"/v1/models/{MODEL}:predict",
                                   body=self.bodies[int(sent * 1000) % len(self.bodies)],
                                   headers={"Content-Type": "application/json"})
                answer = connection.getresponse()
                answer.read()
                status = answer.status
            except (OSError, http.client.HTTPException):
                if connection is not None:
                    connection.close()
                connection = None
            self.samples.append(Sample(sent, time.monotonic(), status))

    def __enter__(self) -> "Load":
        workers = 8
        self._threads = [threading.Thread(target=self._worker, args=(i, workers), daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(DEADLINE_S + MARGIN_S + 5)


def summarize(name: str, samples: list[Sample], fault_at: float, repaired_at: float) -> dict[str, Any]:
    window = [s for s in samples if s.sent >= fault_at - 1.0]
    by_status: dict[str, int] = {}
    for s in window:
        key = str(s.status) if s.status is not None else "no answer"
        by_status[key] = by_status.get(key, 0) + 1
    errors = [s for s in window if s.status is None or s.status >= 500]
    first_error = min((s.done for s in errors if s.sent >= fault_at), default=None)
    after = [s for s in window if s.sent >= repaired_at]
    last_bad = max((i for i, s in enumerate(after) if s.status is None or s.status >= 500), default=-1)
    recovered = after[last_bad + 1].done if last_bad + 1 < len(after) else None
    return {
        "fault": name, "requests": len(window), "by_status": dict(sorted(by_status.items())),
        "first_error_after_s": round(first_error - fault_at, 2) if first_error is not None else None,
        "recovered_after_repair_s": round(recovered - repaired_at, 2) if recovered is not None else None,
        "hung": sum(1 for s in window if s.done - s.sent > DEADLINE_S + MARGIN_S),
        "lost": sum(1 for s in window if s.status is None),
    }


@dataclass
class Fault:
    name: str
    inject: Callable[[], None]
    repair: Callable[[], None]


def measure_chaos(rate: float = 10.0, hold: float = 4.0, settle: float = 12.0, only: list[str] | None = None,
                  cache: str = "memory") -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="lwt-bench-chaos-") as work, ExitStack() as stack:
        folder = Path(work)
        wiki = LocalWiki(folder / "wiki", free_port())
        stack.callback(wiki.stop)
        wiki.start()
        proxy = stack.enter_context(LatencyProxy(wiki.api_url, 0.0))
        triton = TritonServer(SHIPPED, Ports(free_port(), free_port(), free_port()), workdir=folder / "triton")
        stack.callback(triton.stop)
        triton.start()
        paused, stopping = threading.Event(), threading.Event()
        supervisor = TritonSupervisor(triton, backoff=0.5)
        watcher = threading.Thread(target=supervisor.watch, args=(lambda: not stopping.is_set(), 0.1, paused.is_set),
                                   daemon=True)
        watcher.start()
        stack.callback(watcher.join, 30)
        stack.callback(stopping.set)
        redis = _redis(stack, folder) if cache == "redis" else None
        services = ServicesProcess(SHIPPED, free_port(), triton.http_url, proxy.url, [MODEL],
                                   log_path=folder / "services.log",
                                   options={"mediawiki-timeout": DEADLINE_S,
                                            "cache": redis.url if redis is not None else "none"})
        stack.callback(services.stop)
        services.start()
        revs = json.loads((wiki.folder / "revisions.json").read_text())
        bodies = [json.dumps({"rev_id": r}).encode() for role, r in revs.items()
                  if role.startswith(("good_edit", "vandalism", "bot_fix"))]

        def stop_triton() -> None:
            paused.set()
            triton.stop(grace=5)

        def start_triton() -> None:
            triton.start()
            paused.clear()

        def kill_triton() -> None:
            assert triton.process is not None
            os.killpg(triton.process.pid, signal.SIGKILL)

        faults = [
            Fault("triton-stopped", stop_triton, start_triton),
            Fault("triton-killed", kill_triton, lambda: None),
            Fault("mediawiki-stopped", wiki.stop, wiki.start),
            Fault("mediawiki-slow", lambda: proxy.set_delay(DEADLINE_S * 1000 * 1.5), lambda: proxy.set_delay(0)),
        ]
        if redis is not None:
            faults.append(Fault("redis-stopped", redis.stop, redis.start))
        for fault in faults:
            if only and fault.name not in only:
                continue
            with Load(services.port, bodies, rate) as load:
                time.sleep(2.0)
                fault_at = time.monotonic()
                fault.inject()
                time.sleep(hold)
                repaired_at = time.monotonic()
                fault.repair()
                time.sleep(settle)
            results.append(summarize(fault.name, load.samples, fault_at, repaired_at))
    return results


def _redis(stack: ExitStack, folder: Path) -> Any:
    # Imported here: the local Redis arrives with the score cache (lwt cache up).
    from lwt.stack.redis import RedisServer

    redis = RedisServer(folder / "redis", free_port())
    stack.callback(redis.stop)
    redis.start()
    return redis
