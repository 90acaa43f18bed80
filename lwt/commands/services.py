"""`lwt services`: the KServe transformer services (what `lwt serve --services` starts,
and what a KServe transformer pod runs).

KServe appends `--model_name`, `--predictor_host`, `--http_port` (and
`--predictor_protocol`) to a transformer's arguments: each has an alias here, so the same
command runs locally and in a pod. Every tunable is a field of
`transformers_svc.settings.ServiceSettings` (environment `LWT_<FIELD>`); a flag given here
overrides it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Flags forwarded from `lwt serve` to its `lwt services` child: (flag, settings field, type, help).
SERVICE_FLAGS: tuple[tuple[str, str, type, str], ...] = (
    ("--mediawiki-url", "mediawiki_url", str, "one Action API URL for every wiki (default: derived per wiki, "
                                              "e.g. enwiki -> en.wikipedia.org)"),
    ("--mediawiki-timeout", "mediawiki_timeout", float,
     "seconds for all MediaWiki calls of one request, retries included (default 5); then 504"),
    ("--mediawiki-retries", "mediawiki_retries", int, "retries on 5xx/connection errors (default 2)"),
    ("--predictor-timeout", "predictor_timeout", int, "seconds per Triton call (default 10)"),
    ("--workers", "workers", int, "service processes sharing the port (default 1)"),
    ("--cache", "cache", str, "score cache: memory (default), none, or redis://HOST:PORT/DB"),
    ("--cache-ttl", "cache_ttl", int, "seconds a cached score is kept (default 7 days)"),
)


def add_service_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--predictor-protocol", "--predictor_protocol", choices=["v2", "grpc-v2"], default=None,
                        help="how the services call Triton: gRPC (default) or v2 REST")
    for flag, dest, kind, helptext in SERVICE_FLAGS:
        parser.add_argument(flag, dest=dest, type=kind, default=None, help=helptext)


def service_options(args: argparse.Namespace) -> dict[str, str]:
    """The flags given to `lwt serve` that its `lwt services` child must get too."""
    return {flag[2:]: str(getattr(args, dest)) for flag, dest, _, _ in SERVICE_FLAGS
            if getattr(args, dest, None) is not None and dest != "mediawiki_url"}


def register(commands: argparse._SubParsersAction) -> None:
    services = commands.add_parser("services", help="run the KServe transformer services (lwt serve --services starts it)")
    services.add_argument("--repository", required=True, type=Path, help="the model repository Triton serves")
    services.add_argument("--port", "--http_port", type=int, default=8080, help="HTTP port (default 8080)")
    services.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 in a pod)")
    services.add_argument("--predictor-host", "--predictor_host", default=None,
                          help="Triton host:port, its gRPC port for grpc-v2 (default 127.0.0.1:8001)")
    services.add_argument("--models", "--model_name", help="comma-separated model names (default: every model with a service)")
    services.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)  # a worker of --workers N
    services.add_argument("--ready-file", type=Path, help=argparse.SUPPRESS)  # touched once this worker has loaded
    services.add_argument("--go-file", type=Path, help=argparse.SUPPRESS)  # listen once it exists
    add_service_options(services)
    services.set_defaults(handler=_run, foreground=True)


def settings_from(args: argparse.Namespace) -> Any:
    from transformers_svc.settings import ServiceSettings

    given = {dest: getattr(args, dest) for _, dest, _, _ in SERVICE_FLAGS if getattr(args, dest, None) is not None}
    if args.predictor_host:
        given["predictor_host"] = args.predictor_host
    if args.predictor_protocol:
        given["predictor_protocol"] = args.predictor_protocol
    return ServiceSettings(**given)


def _run(args: argparse.Namespace) -> int:
    from transformers_svc.server import Context, build_services, reuse_port_socket, run

    settings = settings_from(args)
    if settings.workers > 1 and not args.reuse_port:
        return _run_workers(args, settings.workers)
    only = [m.strip() for m in args.models.split(",")] if args.models else None
    ctx = Context(settings)
    services = build_services(args.repository, ctx, only)
    if args.ready_file is not None and args.go_file is not None:  # a worker of --workers N
        args.ready_file.touch()
        while not args.go_file.exists():
            time.sleep(0.05)
    sock = reuse_port_socket(args.host, args.port) if args.reuse_port else None
    run(services, ctx, args.port, args.host, sock)
    return 0


def _run_workers(args: argparse.Namespace, workers: int) -> int:
    """N processes, each with its own services and MediaWiki sessions, sharing the port
    (SO_REUSEPORT): feature solving is CPU work under the GIL, so it scales by process."""
    from lwt.stack.process import ManagedProcess, ServerError, http_ok, port_in_use, serve_until_stopped

    if port_in_use(args.port, args.host):
        raise ServerError(f"services port {args.port} on {args.host} is already in use")
    argv = [a for a in sys.argv[1:] if a != "--reuse-port"]
    # The port answers as soon as the first worker listens: so every worker loads first and
    # says so, and none listens before all have loaded. Otherwise a client (or a benchmark)
    # sees the port ready while another worker is still loading, and its connections all
    # go to the first worker.
    flags = Path(tempfile.mkdtemp(prefix="lwt-workers-"))
    go = flags / "go"

    class Worker(ManagedProcess):
        name = "a services worker"
        new_session = False  # in our process group: stopped with us even if we are killed
        start_timeout = 90.0

        def __init__(self, index: int) -> None:
            super().__init__(Path("/dev/stderr"))
            self.ready_file = flags / f"worker-{index}"

        def command(self) -> list[str]:
            return [sys.executable, "-m", "lwt", *argv, "--workers", "1", "--reuse-port",
                    "--ready-file", str(self.ready_file), "--go-file", str(go)]

        def ready(self) -> bool:
            return self.ready_file.exists()

    pool = [Worker(i) for i in range(workers)]
    try:
        for worker in pool:
            worker.start()  # loaded, not yet listening
        go.touch()
        deadline = time.monotonic() + 30
        while not http_ok(f"http://{args.host}:{args.port}/v2/health/live"):
            if time.monotonic() > deadline or not all(w.alive() for w in pool):
                raise ServerError("the services workers loaded but do not answer")
            time.sleep(0.05)
        serve_until_stopped(lambda: all(w.alive() for w in pool))
    finally:
        for worker in pool:
            worker.stop()
        shutil.rmtree(flags, ignore_errors=True)
    raise ServerError("a services worker exited; stopped the others")
