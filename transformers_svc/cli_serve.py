"""`lwt serve`: Triton (and, later, the transformer services) in the foreground."""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

from transformers_svc.processes import wait_for_signal
from transformers_svc.triton.server import Ports, TritonServer

log = logging.getLogger("lwt.serve")


def register(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="serve a model repository with the real Triton on 127.0.0.1")
    serve.add_argument("--repository", required=True,
                       help="model repository folder, or s3://BUCKET/PREFIX to pull (sha512-verified) first")
    serve.add_argument("--endpoint-url", help="S3 endpoint for an s3:// repository (default: $AWS_ENDPOINT_URL)")
    serve.add_argument("--direct-s3", action="store_true",
                       help="let Triton read the s3:// repository itself (no sha512 verification)")
    serve.add_argument("--http-port", type=int, default=8000, help="KServe v2 HTTP port (default 8000)")
    serve.add_argument("--grpc-port", type=int, default=8001, help="KServe v2 gRPC port (default 8001)")
    serve.add_argument("--metrics-port", type=int, default=8002, help="Prometheus metrics port (default 8002)")
    serve.add_argument("--workdir", type=Path, help="where the log and backends go (default: a temp folder)")
    serve.add_argument("--services", nargs="?", const="all", metavar="NAMES",
                       help="also start the KServe transformer services (all, or comma-separated model names)")
    serve.add_argument("--services-port", type=int, default=8080, help="services HTTP port (default 8080)")
    serve.add_argument("--mediawiki-url", help="one MediaWiki Action API URL for every wiki "
                                               "(default: derived per wiki, e.g. enwiki -> en.wikipedia.org)")
    serve.add_argument("--predictor-protocol", default="v2", choices=["v2", "grpc-v2"],
                       help="how the services call Triton: v2 REST or gRPC (default v2)")
    serve.set_defaults(handler=run)


def local_repository(repository: str, workdir: Path, endpoint_url: str | None, direct: bool = False) -> Path | str:
    """A folder as is; an s3:// URL is pulled and verified into `workdir` first, or with
    `direct` rewritten for Triton's own S3 loader (`s3://http://host:port/bucket/prefix`)."""
    if not repository.startswith("s3://"):
        return Path(repository)
    if direct:
        from exporters.errors import StoreError
        from exporters.store.s3 import reachable

        endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL", "")
        if not endpoint:
            raise StoreError("--direct-s3 needs --endpoint-url or AWS_ENDPOINT_URL")
        if not reachable(endpoint):  # Triton would retry an absent endpoint for minutes
            raise StoreError(f"cannot reach the S3 endpoint {endpoint}")
        return f"s3://{endpoint.rstrip('/')}/{repository[5:]}"
    from exporters.store.cli import pull_or_fail

    target = workdir / "repository"
    pulled = pull_or_fail(repository, target, endpoint_url, None, progress=False)
    log.info("repository pulled", extra={"source": repository, "models": [p["model"] for p in pulled]})
    return target


def start_services(args: argparse.Namespace, repository: Path | str, server: TritonServer, workdir: Path):
    from transformers_svc.services_process import ServicesProcess

    if not isinstance(repository, Path):
        from exporters.errors import StoreError

        raise StoreError("--services needs a local (or pulled) repository, not --direct-s3")
    host = server.grpc_url if args.predictor_protocol == "grpc-v2" else server.http_url
    models = None if args.services == "all" else [m.strip() for m in args.services.split(",")]
    return ServicesProcess(repository, args.services_port, host, args.mediawiki_url, models,
                           args.predictor_protocol, workdir / "services.log").start()


def run(args: argparse.Namespace) -> int:
    ports = Ports(args.http_port, args.grpc_port, args.metrics_port)
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="lwt-serve-"))
    repository = local_repository(args.repository, workdir, args.endpoint_url, args.direct_s3)
    server = TritonServer(repository, ports, workdir=workdir)
    server.start()
    log.info("triton ready", extra={"http": server.http_url, "grpc": server.grpc_url,
                                    "metrics": f"127.0.0.1:{ports.metrics}", "log_file": str(server.log_path)})
    services = None
    try:
        if args.services:
            services = start_services(args, repository, server, workdir)
        print(f"Triton ready: HTTP {server.http_url}, gRPC {server.grpc_url}, metrics 127.0.0.1:{ports.metrics}; "
              f"log {server.log_path}; Ctrl-C stops", flush=True)
        if services is not None:
            print(f"Services ready: {services.url}/v1/models/<name>:predict (log {services.log_path})", flush=True)
        why = wait_for_signal(lambda: server.process is not None and server.process.poll() is None
                              and (services is None or services.alive()))
    finally:
        if services is not None:
            services.stop()
        server.stop()
    log.info("stopped", extra={"reason": why})
    return 0 if why in ("SIGINT", "SIGTERM") else 1
