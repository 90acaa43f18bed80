"""Load generation that is not the bottleneck: several worker processes, each with its own
keep-alive connections, in closed loop (N clients, each waiting for its answer) or open
loop (a fixed arrival rate; latency counted from the scheduled send time, so queueing
shows). REST uses a raw HTTP/1.1 keep-alive socket with a pre-encoded body; gRPC uses
tritonclient's client. The generator's own CPU time is measured and reported.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import resource
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Target:
    """One kind of request, sent over and over."""

    protocol: str  # "http" or "grpc"
    host: str
    port: int
    path: str = ""  # http: the URL path
    body: bytes = b""  # http: the exact bytes POSTed
    bodies: tuple[bytes, ...] = ()  # http: several bodies sent in turn (e.g. requests of many lengths)
    headers: tuple[tuple[str, str], ...] = (("Content-Type", "application/json"),)
    model: str = ""  # grpc: the model name
    inputs: tuple[tuple[str, str, Any], ...] = ()  # grpc: (name, datatype, numpy array)


@dataclass
class LoadResult:
    sent: int
    answered: int
    errors: int
    duration_s: float
    latencies_ms: np.ndarray
    loadgen_cpu_s: float
    error_samples: list[str] = field(default_factory=list)
    quantiles: dict[int, float] | None = None  # set when the generator reports quantiles only (wrk)

    @property
    def rps(self) -> float:
        return self.answered / self.duration_s if self.duration_s else 0.0

    def percentile(self, q: float) -> float:
        if self.quantiles is not None:
            return self.quantiles[int(q)]
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms.size else float("nan")

    def summary(self) -> dict[str, Any]:
        return {"sent": self.sent, "answered": self.answered, "errors": self.errors,
                "duration_s": round(self.duration_s, 3), "rps": round(self.rps, 1),
                "p50_ms": round(self.percentile(50), 3), "p90_ms": round(self.percentile(90), 3),
                "p95_ms": round(self.percentile(95), 3), "p99_ms": round(self.percentile(99), 3),
                "max_ms": round(self.percentile(100), 3) if self.answered else float("nan"),
                "loadgen_cpu_s": round(self.loadgen_cpu_s, 3)}


class _Http:
    """A minimal keep-alive HTTP/1.1 client: enough to POST bodies (encoded once) in turn
    and read the answers."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.requests = [self._encode(body) for body in (target.bodies or (target.body,))]
        self.turn = os.getpid() % len(self.requests)
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _encode(self, body: bytes) -> bytes:
        head = [f"POST {self.target.path} HTTP/1.1", f"Host: {self.target.host}:{self.target.port}",
                f"Content-Length: {len(body)}", "Connection: keep-alive"]
        head += [f"{k}: {v}" for k, v in self.target.headers]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.target.host, self.target.port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def call(self) -> tuple[bool, str]:
        try:
            if self.sock is None:
                self.sock, self.buffer = self._connect(), b""
            self.turn = (self.turn + 1) % len(self.requests)
            self.sock.sendall(self.requests[self.turn])
            status, body_len, close = self._read_head()
            while len(self.buffer) < body_len:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed mid-body")
                self.buffer += chunk
            body, self.buffer = self.buffer[:body_len], self.buffer[body_len:]
            if close:
                self.sock.close()
                self.sock = None
            return 200 <= status < 300, "" if status < 300 else f"HTTP {status}: {body[:120]!r}"
        except (OSError, ConnectionError) as exc:
            if self.sock is not None:
                self.sock.close()
            self.sock = None
            return False, type(exc).__name__

    def _read_head(self) -> tuple[int, int, bool]:
        assert self.sock is not None
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buffer += chunk
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
        return status, int(fields.get("content-length", 0)), fields.get("connection", "").lower() == "close"


class _Grpc:
    def __init__(self, target: Target) -> None:
        # Imported here: only gRPC workers need it, and its protobufs clash with KServe's.
        import tritonclient.grpc as grpcclient

        self.client = grpcclient.InferenceServerClient(f"{target.host}:{target.port}")
        self.inputs = []
        for name, datatype, array in target.inputs:
            tensor = grpcclient.InferInput(name, list(array.shape), datatype)
            tensor.set_data_from_numpy(array)  # encoded once, sent many times
            self.inputs.append(tensor)
        self.model = target.model

    def call(self) -> tuple[bool, str]:
        try:
            self.client.infer(self.model, self.inputs)
            return True, ""
        except Exception as exc:  # noqa: BLE001 - counted as an error, a sample kept
            return False, str(exc)[:120]


def _client(target: Target) -> Any:
    return _Http(target) if target.protocol == "http" else _Grpc(target)


def _worker(target: Target, clients: int, duration: float, rate: float, start_at: float,
            queue: "mp.Queue[Any]") -> None:
    """Closed loop when rate == 0 (each client sends as soon as answered), else open loop."""
    latencies: list[float] = []
    errors: list[str] = []
    sent = [0]
    lock = threading.Lock()

    def closed(client: Any) -> None:
        end = start_at + duration
        while True:
            begin = time.perf_counter()
            if begin >= end:
                return
            ok, why = client.call()
            elapsed = (time.perf_counter() - begin) * 1000
            with lock:
                sent[0] += 1
                latencies.append(elapsed) if ok else errors.append(why)

    def opened(client: Any, offset: float, interval: float) -> None:
        scheduled = start_at + offset
        while scheduled < start_at + duration:
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            ok, why = client.call()
            elapsed = (time.perf_counter() - scheduled) * 1000  # from when it should have gone
            with lock:
                sent[0] += 1
                latencies.append(elapsed) if ok else errors.append(why)
            scheduled += interval

    while time.perf_counter() < start_at:
        time.sleep(0.001)
    threads = []
    for i in range(clients):
        client = _client(target)
        if rate:
            interval = clients / rate
            threads.append(threading.Thread(target=opened, args=(client, i * interval / clients, interval)))
        else:
            threads.append(threading.Thread(target=closed, args=(client,)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    queue.put((sent[0], np.asarray(latencies, dtype=np.float64), errors[:5], len(errors),
               usage.ru_utime + usage.ru_stime, time.perf_counter()))


def run_load(target: Target, concurrency: int, duration: float, rate: float = 0.0,
             processes: int | None = None) -> LoadResult:
    """`concurrency` clients spread over worker processes; `rate` > 0 for open loop (req/s)."""
    processes = max(1, min(processes or min(2, os.cpu_count() or 1), concurrency))
    per = [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]
    rates = [rate * n / concurrency for n in per] if rate else [0.0] * processes
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    start_at = time.perf_counter() + 0.5  # perf_counter is CLOCK_MONOTONIC: shared by forked workers
    workers = [ctx.Process(target=_worker, args=(target, n, duration, r, start_at, queue))
               for n, r in zip(per, rates) if n]
    for w in workers:
        w.start()
    results = [queue.get(timeout=duration + 120) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    latencies = np.concatenate([r[1] for r in results]) if results else np.array([])
    # Requests sent before the end are waited for: the rate is over the time to the last answer
    # (for requests of seconds, `duration` alone would count their tail as free).
    elapsed = max([duration] + [r[5] - start_at for r in results])
    return LoadResult(
        sent=sum(r[0] for r in results), answered=int(latencies.size), errors=sum(r[3] for r in results),
        duration_s=elapsed, latencies_ms=latencies, loadgen_cpu_s=sum(r[4] for r in results),
        error_samples=[e for r in results for e in r[2]][:5],
    )
