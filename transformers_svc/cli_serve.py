"""`lwt serve`: Triton (and, later, the transformer services) in the foreground."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from pathlib import Path

from transformers_svc.triton.server import Ports, TritonServer

log = logging.getLogger("lwt.serve")


def register(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="serve a model repository with the real Triton on 127.0.0.1")
    serve.add_argument("--repository", required=True, help="model repository folder")
    serve.add_argument("--http-port", type=int, default=8000, help="KServe v2 HTTP port (default 8000)")
    serve.add_argument("--grpc-port", type=int, default=8001, help="KServe v2 gRPC port (default 8001)")
    serve.add_argument("--metrics-port", type=int, default=8002, help="Prometheus metrics port (default 8002)")
    serve.add_argument("--workdir", type=Path, help="where the log and backends go (default: a temp folder)")
    serve.set_defaults(handler=run)


def wait_for_signal(alive: "callable") -> str:
    """Block until SIGINT/SIGTERM (or until `alive()` turns false); name what ended it."""
    stop = threading.Event()
    reason = {"why": ""}

    def handle(signum: int, _frame: object) -> None:
        reason["why"] = signal.Signals(signum).name
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            if not alive():
                return "a server exited"
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    return reason["why"]


def run(args: argparse.Namespace) -> int:
    ports = Ports(args.http_port, args.grpc_port, args.metrics_port)
    server = TritonServer(Path(args.repository), ports, workdir=args.workdir)
    server.start()
    log.info("triton ready", extra={"http": server.http_url, "grpc": server.grpc_url,
                                    "metrics": f"127.0.0.1:{ports.metrics}", "log_file": str(server.log_path)})
    print(f"Triton ready: HTTP {server.http_url}, gRPC {server.grpc_url}, metrics 127.0.0.1:{ports.metrics}; "
          f"log {server.log_path}; Ctrl-C stops", flush=True)
    try:
        why = wait_for_signal(lambda: server.process is not None and server.process.poll() is None)
    finally:
        server.stop()
    log.info("stopped", extra={"reason": why})
    return 0 if why in ("SIGINT", "SIGTERM") else 1
