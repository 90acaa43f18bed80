"""`lwt serve`: Triton (and, with --services, the transformer services) in the foreground,
with Triton restarted whenever it dies."""

from __future__ import annotations

import argparse
import logging
import tempfile
from contextlib import ExitStack
from pathlib import Path

from exporters.contract.errors import StoreError
from exporters.contract.events import fields
from lwt.commands.services import add_service_options, service_options

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
    serve.add_argument("--metrics-port", type=int, default=8002, help="Triton's Prometheus metrics port (default 8002)")
    serve.add_argument("--supervisor-port", type=int, default=8003,
                       help="Prometheus metrics of Triton restarts, /metrics (default 8003; 0: none)")
    serve.add_argument("--workdir", type=Path, help="where the logs, the admin key and backends go (default: a temp folder)")
    serve.add_argument("--services", nargs="?", const="all", metavar="NAMES",
                       help="also start the KServe transformer services (all, or comma-separated model names)")
    serve.add_argument("--services-port", type=int, default=8080, help="services HTTP port (default 8080)")
    add_service_options(serve)
    serve.set_defaults(handler=run, foreground=True)


def local_repository(repository: str, workdir: Path, endpoint_url: str | None, direct: bool = False) -> Path | str:
    """A folder as is; an s3:// URL is pulled and verified into `workdir` first, or with
    `direct` rewritten for Triton's own S3 loader (`s3://http://host:port/bucket/prefix`)."""
    from exporters.store.pull import pull_verified
    from exporters.store.s3 import client, endpoint_url as s3_endpoint, reachable

    if not repository.startswith("s3://"):
        return Path(repository)
    endpoint = s3_endpoint(endpoint_url)
    if direct:
        if not endpoint:
            raise StoreError("--direct-s3 needs --endpoint-url or AWS_ENDPOINT_URL")
        if not reachable(endpoint):  # Triton would retry an absent endpoint for minutes
            raise StoreError(f"cannot reach the S3 endpoint {endpoint}")
        return f"s3://{endpoint.rstrip('/')}/{repository[5:]}"
    target = workdir / "repository"
    pulled = pull_verified(repository, target, client(endpoint), None, progress=False)
    log.info("repository pulled", extra=fields(source=repository, models=[p["model"] for p in pulled]))
    return target


def run(args: argparse.Namespace) -> int:
    from lwt.stack.process import ServerError, port_in_use
    from lwt.stack.services import ServicesProcess
    from lwt.stack.supervisor import TritonSupervisor
    from lwt.stack.triton import Ports, TritonServer

    if args.supervisor_port and port_in_use(args.supervisor_port):
        raise ServerError(f"supervisor metrics port {args.supervisor_port} on 127.0.0.1 is already in use")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="lwt-serve-")).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        repository = local_repository(args.repository, workdir, args.endpoint_url, args.direct_s3)
        if args.services and not isinstance(repository, Path):
            raise StoreError("--services needs a local (or pulled) repository, not --direct-s3")
        ports = Ports(args.http_port, args.grpc_port, args.metrics_port)
        triton = TritonServer(repository, ports, workdir=workdir)
        stack.callback(triton.stop)
        triton.start()
        supervisor = TritonSupervisor(triton)
        supervisor.serve_metrics(args.supervisor_port)
        log.info("triton ready", extra=fields(http=triton.http_url, grpc=triton.grpc_url, log_file=str(triton.log_path),
                                              metrics=f"127.0.0.1:{ports.metrics}", admin_key=str(triton.admin_key_file)))
        services = None
        if args.services:
            protocol = args.predictor_protocol or "grpc-v2"
            host = triton.grpc_url if protocol == "grpc-v2" else triton.http_url
            models = None if args.services == "all" else [m.strip() for m in args.services.split(",")]
            services = ServicesProcess(Path(repository), args.services_port, host, args.mediawiki_url, models,
                                       protocol, workdir / "services.log", service_options(args))
            stack.callback(services.stop)
            services.start()
        print(f"Triton ready: HTTP {triton.http_url}, gRPC {triton.grpc_url}, metrics 127.0.0.1:{ports.metrics}; "
              f"log {triton.log_path}; admin key in {triton.admin_key_file}; Ctrl-C stops", flush=True)
        if services is not None:
            print(f"Services ready: {services.url}/v1/models/<name>:predict (log {services.log_path})", flush=True)
        why = supervisor.watch(lambda: services is None or services.alive())
    log.error("stopped", extra=fields(reason=why))
    return 1
