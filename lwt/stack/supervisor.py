"""Keep Triton up: restart it when it dies, with a bounded back-off.

Triton 2.51 can be crashed by one malformed request to its own port (a shape whose
element count overflows). The services check shapes before anything reaches Triton, but a
client of Triton's port is not theirs to check: `lwt serve` watches the process, removes
the shared-memory regions a dead Triton leaves in /dev/shm, and starts it again on the
same ports; meanwhile the services answer 503 and recover by themselves. Restarts are
counted in the log and in Prometheus (`lwt_triton_restarts_total`, `lwt_triton_up`).
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from exporters.contract.events import fields
from lwt.stack.process import ServerError
from lwt.stack.triton import TritonServer

log = logging.getLogger("lwt.supervisor")


class TritonSupervisor:
    def __init__(self, triton: TritonServer, backoff: float = 1.0, backoff_max: float = 30.0,
                 max_failures: int = 5, healthy_after: float = 60.0) -> None:
        self.triton = triton
        self.backoff_initial = backoff
        self.backoff_max = backoff_max
        self.max_failures = max_failures
        self.healthy_after = healthy_after
        self.registry = CollectorRegistry()
        self.restarts = Counter("lwt_triton_restarts", "Times lwt serve restarted a dead Triton",
                                registry=self.registry)
        self.up = Gauge("lwt_triton_up", "1 while Triton is running", registry=self.registry)
        self.restart_count = 0

    def serve_metrics(self, port: int) -> None:
        """Prometheus text on http://127.0.0.1:PORT/metrics (0: none)."""
        if port:
            start_http_server(port, addr="127.0.0.1", registry=self.registry)

    def watch(self, others_alive: Callable[[], bool], every: float = 0.5,
              paused: Callable[[], bool] = lambda: False) -> str:
        """Block while serving; restart Triton whenever it dies (unless `paused()`: an
        operator, or the chaos benchmark, keeps it down on purpose). Returns why it stopped
        watching (another server exited); raises ServerError when restarts keep failing."""
        self.up.set(1)
        backoff, failures, started = self.backoff_initial, 0, time.monotonic()
        while True:
            if not others_alive():
                return "the services exited"
            if self.triton.alive() or paused():
                if time.monotonic() - started > self.healthy_after:
                    backoff, failures = self.backoff_initial, 0
                time.sleep(every)
                continue
            self.up.set(0)
            code = self.triton.process.returncode if self.triton.process is not None else None
            self.triton.stop(grace=2)  # reap the group, remove its shared-memory regions
            log.error("triton died; restarting", extra=fields(returncode=code, backoff_s=backoff,
                                                              restarts=self.restart_count))
            time.sleep(backoff)
            try:
                self.triton.start()
            except ServerError as exc:
                failures += 1
                if failures >= self.max_failures:
                    raise ServerError(f"Triton failed to restart {failures} times in a row; last: {exc}") from None
                backoff = min(backoff * 2, self.backoff_max)
                continue
            self.restarts.inc()
            self.restart_count += 1
            self.up.set(1)
            started = time.monotonic()
            log.warning("triton restarted", extra=fields(restarts=self.restart_count, http=self.triton.http_url))
